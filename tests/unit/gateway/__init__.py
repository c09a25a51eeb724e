"""The gateway in process, without a broker."""
