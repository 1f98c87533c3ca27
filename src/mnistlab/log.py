"""One logging function: a line on stderr that does not break tqdm's progress bars."""

from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr)
