"""The pure core: values and decisions, no I/O, time passed in."""
