"""Delivery: claim, decide, render, send, record; rate limits, pauses, recovery after a crash."""
