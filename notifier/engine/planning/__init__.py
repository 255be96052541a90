"""Planning: the scan that turns due promises into outbox rows, and ``notifier simulate``."""
