"""Watchdogs over faust and aiokafka: stalled recoveries, stalled partitions, stuck agents."""
