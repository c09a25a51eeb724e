"""The worker process's parts in process, without a broker."""
