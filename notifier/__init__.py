"""notifier: keeps the ledger of promises made to customers and tells them first when one slips."""

from __future__ import annotations

__version__ = "0.1.0"
