"""Progress lines: one short line at a time on stderr, so stdout stays for a command's summary.

The one printer the loaders, the run and the demo share: ``say`` for a line, ``step`` for a step of a
multi-step command, ``Ticker`` for a line every so many items of a long fetch.
"""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    """One line on stderr, flushed at once (a long load shows it is alive as it goes)."""
    print(message, file=sys.stderr, flush=True)


def step(message: str) -> float:
    """``==> message``: a step of `customer360 demo` or `run`; returns when it started (``time.perf_counter``)."""
    say(f"==> {message}")
    return time.perf_counter()


class Ticker:
    """A line every ``every`` items with the rate so far: ``hubspot: 20,000 contacts fetched (list, 1,234/s)``."""

    def __init__(self, source: str, noun: str, every: int) -> None:
        self.source, self.noun, self.every = source, noun, every
        self.count, self.started = 0, time.monotonic()

    def tick(self, n: int, what: str) -> None:
        before, self.count = self.count, self.count + n
        if self.count // self.every > before // self.every:
            rate = self.count / max(time.monotonic() - self.started, 1e-6)
            say(f"{self.source}: {self.count:,} {self.noun} ({what}, {rate:,.0f}/s)")
