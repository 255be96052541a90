"""Limits for tests about what a render says, not how long it takes.

The shipped default gives a render 1 s. On a shared 2-core CI box under load a render of
the whole shipped set can be descheduled past that (it happened: bill_corrected's email
timed out at load average 5). Tests of the time limit itself set their own.
"""

from __future__ import annotations

from datetime import timedelta

from notifier.templates.render_limits import RenderLimits

PATIENT = RenderLimits(timeout=timedelta(seconds=120))
