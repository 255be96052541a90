"""``python -m notifier``: the same as the ``notifier`` command."""

from __future__ import annotations

import sys

from notifier.cli import main

sys.exit(main())
