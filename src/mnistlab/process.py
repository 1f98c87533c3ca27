"""Settings that take effect only when a process starts. `mnistlab` re-executes itself once, at start-up, with
them in its environment (cli.main), and the notebook's kernel is started with them (deliverables.notebook).

Today there is one: glibc's malloc asks the kernel for transparent huge pages (2 MiB) for its heap
(`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, glibc 2.35 and newer), on kernels that hand them out only on request
(THP mode "madvise", common on servers and VMs). Training keeps its freed memory in that heap
(hardware.prepare_cpu), a few hundred MB for the Fashion nets; with 4 KiB pages their epochs grew within a fit,
with huge pages they stayed flat and were shorter (docs/BENCHMARKS.md, "Huge pages"). Elsewhere (other C
libraries, THP off or always on) nothing changes and nothing is re-executed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

HUGEPAGES = "glibc.malloc.hugetlb=1"
MARK = "MNISTLAB_STARTED"  # set in the re-executed process: never re-execute twice
THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not Linux, or not glibc
        return False


def _thp_on_request() -> bool:
    try:
        with open(THP_MODE) as f:
            return "[madvise]" in f.read()
    except OSError:
        return False


def startup_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """`env` plus the start-up settings it lacks, or None when none is missing (or when this process is already
    the re-executed one)."""
    if env.get(MARK) or sys.platform != "linux" or not _glibc() or not _thp_on_request():
        return None
    tunables = env.get("GLIBC_TUNABLES", "")
    if HUGEPAGES in tunables.split(":"):
        return None
    return {**env, "GLIBC_TUNABLES": ":".join(t for t in (tunables, HUGEPAGES) if t), MARK: "1"}


def kernel_env(env: Mapping[str, str]) -> dict[str, str]:
    """The start-up settings for a child process (the notebook's kernel): only the variables to add."""
    full = startup_env(env)
    return {} if full is None else {"GLIBC_TUNABLES": full["GLIBC_TUNABLES"]}
