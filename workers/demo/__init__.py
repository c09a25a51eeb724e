"""`gvi-sanctions demo`: the embedded broker, a worker, a gateway and simulated agencies."""
