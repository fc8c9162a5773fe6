"""How every page and message of the product writes a time and a length of time.

One set of rules, here and in the JupyterLab item's ``logic.mjs`` (``timeLeft``), which a test holds to the
same table: a time of day is 24-hour with its zone ("13:05:09 UTC"); a length of time is written in whole
days, hours and minutes, leaving out the units that are zero ("1 d 1 h", "1 h 58 min", "2 h", "14 min"),
and in seconds when under a minute ("42 s").
"""

from __future__ import annotations

import time


def clock_time(epoch: float) -> str:
    """The one time format of every page: 24 hours, with the zone ("13:05:09 UTC")."""
    return time.strftime("%H:%M:%S %Z", time.localtime(epoch))


def duration(seconds: float) -> str:
    """A length of time in words: 42 → "42 s", 840 → "14 min", 7080 → "1 h 58 min", 90000 → "1 d 1 h"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    parts = zip((minutes // 1440, minutes % 1440 // 60, minutes % 60), ("d", "h", "min"))
    return " ".join(f"{n} {unit}" for n, unit in parts if n)
