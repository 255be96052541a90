"""The shell that runs the core: ingest, scan, dispatch, scheduling, reload."""
