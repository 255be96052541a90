"""The daemon's wiring: one process's jobs, its health monitor, its lock, what a request may use."""
