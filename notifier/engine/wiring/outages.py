"""Whether a failure is a database outage, for the API's 503: the store's classifier.

The API asks here rather than of ``notifier.store``: it reaches the store only through
the engine.
"""

from __future__ import annotations

from notifier.store.availability import unavailable_reason

__all__ = ["unavailable_reason"]
