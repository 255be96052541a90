"""The crisis playbook's engine: incident commands and the fan-out planner (docs/crisis.md)."""
