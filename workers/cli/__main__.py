"""`python -m workers.cli`: the same command line as the `gvi-sanctions` script."""

from workers.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
