"""Logging: a line on stderr that does not break tqdm's progress bars, and those bars (terminal only)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any


def log(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr)


def progress(items: Iterable[Any], desc: str, **kwargs: Any) -> Any:
    """`items` with a tqdm bar on a terminal; the plain iterable when stderr is not a TTY (log files, tests),
    where a bar's carriage returns would fill the log."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, leave=False, disable=None, dynamic_ncols=True, **kwargs)
