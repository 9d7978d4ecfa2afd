"""Local development stack: a real Kafka broker launched from the official jars."""
