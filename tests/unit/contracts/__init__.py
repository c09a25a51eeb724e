"""The wire contracts, the topic catalogue, partitioning and trust on Kafka."""
