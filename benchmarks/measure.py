"""Shared pieces of the benchmarks: timing, medians, relative errors, the machine."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeats` calls of fn (after `warmup` untimed calls);
    garbage is collected before each call so one call's garbage is not charged to the next."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def rel_err(got: Any, want: Any) -> float:
    """max |got - want| / max(1e-300, max |want|): one number for scalars and arrays."""
    import numpy as np

    got_a = np.asarray(got, dtype=np.float64)
    want_a = np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want_a))) if want_a.size else 0.0, 1e-300)
    return float(np.max(np.abs(got_a - want_a))) / scale if want_a.size else 0.0


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """What the numbers were measured on: cores, CPU model, memory, versions, load."""
    import lark
    import numpy as np
    import typer

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    mem_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": cpu,
        "memory_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "lark": lark.__version__,
        "typer": getattr(typer, "__version__", "?"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
