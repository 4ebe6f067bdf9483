"""Operating the service: request context and deadlines, logs, health, metrics."""
