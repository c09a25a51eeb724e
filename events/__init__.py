"""The Kafka streams of gvi-sanctions: topic catalogue, codecs, envelopes and rejection routing."""
