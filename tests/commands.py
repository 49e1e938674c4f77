"""The live-nst command as a user runs it, for the tests that start it as a process.

``-I`` (isolated): Python imports the installed package, not the ``live_nst/`` folder of
the checkout in the working directory, which lacks ``live_nst.models`` and
``live_nst.bench`` (they are mapped from the top-level folders at install time)."""

from __future__ import annotations

import sys

LIVE_NST = (sys.executable, "-I", "-m", "live_nst")
