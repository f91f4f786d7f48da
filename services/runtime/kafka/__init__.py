"""Kafka transport for the services: topics, outbox relay, consumers, workers."""
