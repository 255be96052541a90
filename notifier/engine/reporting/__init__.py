"""Reporting: what ops read back (status, notifications) and the kill switch (pause, resume)."""
