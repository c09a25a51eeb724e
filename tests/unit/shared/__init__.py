"""Settings and logs, shared by both processes."""
