"""Local tools: the embedded broker, small Kafka clients, and child processes of the two kinds."""
