"""The worker process: the faust app, its agents (one per stage), stores, outbound, watchdogs."""
