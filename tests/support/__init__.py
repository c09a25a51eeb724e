"""Helpers shared by the test tiers: brokers, deployments, builders, fakes and outside clients."""
