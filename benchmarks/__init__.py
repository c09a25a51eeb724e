"""Benchmarks: measured against a raw aiokafka loop on the same broker, in the same run."""
