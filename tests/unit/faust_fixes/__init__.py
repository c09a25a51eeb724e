"""The quarantined corrections and their canaries."""
