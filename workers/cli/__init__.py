"""The `gvi-sanctions` command line: one module per family of commands."""
