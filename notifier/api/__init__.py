"""The HTTP API: ingest under /v1, provider webhooks, health and metrics."""
