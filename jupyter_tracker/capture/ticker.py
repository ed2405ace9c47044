"""A tracked cell's heartbeat: calls back while a long cell runs, so its summary line can show progress.

One thread per kernel, idle between cells. ``watch(tick)`` calls ``tick()`` once the cell has run for
``after`` seconds, then every ``every`` seconds; ``stop()`` returns once no tick is under way, so
nothing the ticks show can land after what the cell shows at its end (issue 12).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable

LIVE_AFTER_SECONDS = 2.0  # a cell shorter than this shows only its final summary
LIVE_EVERY_SECONDS = 1.0  # at most one update a second


class Ticker:
    def __init__(self, after: float = LIVE_AFTER_SECONDS, every: float = LIVE_EVERY_SECONDS) -> None:
        self.after = after
        self.every = every
        self._changed = threading.Condition()
        self._tick: Callable[[], None] | None = None
        self._generation = 0  # which watch() a waiting tick belongs to
        self._thread: threading.Thread | None = None

    def watch(self, tick: Callable[[], None]) -> None:
        with self._changed:
            self._tick = tick
            self._generation += 1
            self._changed.notify()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="jupyter_tracker live summary", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._changed:  # a tick runs holding this lock: once we have it, none is under way
            self._tick = None
            self._generation += 1
            self._changed.notify()

    def _loop(self) -> None:
        with self._changed:
            while True:
                while self._tick is None:
                    self._changed.wait()
                generation = self._generation
                due = time.monotonic() + self.after
                while generation == self._generation:
                    left = due - time.monotonic()
                    if left > 0:
                        self._changed.wait(left)
                        continue
                    tick = self._tick
                    try:
                        tick()
                    except Exception as exc:  # noqa: BLE001  (the cell goes on; only its live line stops)
                        self._tick = None
                        print(f"jupyter_tracker warning: live summary stopped: {type(exc).__name__}: "
                              f"{str(exc).strip()[:200]}", file=sys.stderr)
                        break
                    due = time.monotonic() + self.every
