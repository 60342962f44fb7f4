"""Stage progress: a live display on a terminal, plain log lines for schedulers.

The nightly batch usually runs with its output going to a log file, where a live
progress bar would turn into thousands of carriage returns; so the display is chosen by
whether standard error is a terminal.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("supplyplan")


class Progress:
    """Reports stages (validate, forecast, plan ...) with counts and durations.

    Parameters
    ----------
    live : bool, optional
        Use a live rich display; default: only when standard error is a terminal.
    """

    def __init__(self, live: bool | None = None):
        self.live = sys.stderr.isatty() if live is None else live
        self.timings: dict[str, float] = {}
        self._console = None
        if self.live:
            from rich.console import Console

            self._console = Console(stderr=True)

    def info(self, message: str) -> None:
        """One line of information, on the terminal or in the log."""
        if self._console is not None:
            self._console.print(f"  {message}")
        else:
            log.info(message)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Time one stage and report its start and end."""
        start = time.perf_counter()
        suffix = f" ({detail})" if detail else ""
        if self._console is not None:
            with self._console.status(f"[bold]{name}[/bold]{suffix} ..."):
                yield
        else:
            log.info("stage %s started%s", name, suffix)
            yield
        elapsed = time.perf_counter() - start
        self.timings[name] = round(elapsed, 3)
        if self._console is not None:
            self._console.print(f"[green]done[/green] {name}{suffix} in {elapsed:.1f} s")
        else:
            log.info("stage %s done%s in %.1f s", name, suffix, elapsed)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now, not to the stream seen at set-up.

    Test runners and notebooks swap ``sys.stderr``; a handler that kept the first one
    would write into a closed stream on the next command.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbose: bool = False) -> None:
    """Plain timestamped log lines on standard error (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
