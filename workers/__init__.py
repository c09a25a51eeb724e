"""The gvi-sanctions worker: faust app, agents, adapters, CLI and the pure decision core."""
