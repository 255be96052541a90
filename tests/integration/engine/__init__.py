"""The scan and the dispatcher against real stores and the local provider servers."""
