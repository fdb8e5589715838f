"""How much memory and time a task's matching graph will take, before it is built.

A rotated memory experiment of distance d and r rounds has (d^2 - 1) r detectors, and the
circuit, its decomposed DEM and the matchers built from it grow linearly with them. Measured
on the 2-core CPU of the machine qecpipe was developed on (stim 1.16, PyMatching 2.4): about
2.6 kB and 85 µs per detector for circuit + DEM + matcher (d = 9..29); the estimate below
doubles the memory for the pre-decoder's edge layout and a correlated matcher. A task that
cannot fit in the memory available now is refused with the numbers, instead of swapping or
being killed an hour in.

Examples:
    >>> e = estimate_task(distance=13, rounds=13)
    >>> e.num_detectors, e.memory_bytes < 1 << 30
    (2184, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from qec.errors import InputError

BASE_BYTES = 150 * 2**20
BYTES_PER_DETECTOR = 6 * 2**10
SECONDS_PER_DETECTOR = 1.2e-4


@dataclass(frozen=True, kw_only=True)
class WorkEstimate:
    """Detectors, and the memory and seconds to build what decodes them (upper estimates)."""

    num_detectors: int
    memory_bytes: int
    build_seconds: float

    def describe(self) -> str:
        return (f"{self.num_detectors:,} detectors, about {self.memory_bytes / 2**30:.1f} GiB "
                f"and {self.build_seconds:.0f} s to build its matching graph")


def estimate_task(*, distance: int, rounds: int, copies: int = 1) -> WorkEstimate:
    """The estimate for a memory experiment (``copies`` experiments held at once)."""
    return estimate_detectors((distance * distance - 1) * rounds, copies=copies)


def estimate_detectors(num_detectors: int, *, copies: int = 1) -> WorkEstimate:
    """The estimate for any circuit of ``num_detectors`` detectors."""
    return WorkEstimate(num_detectors=num_detectors,
                        memory_bytes=BASE_BYTES + copies * BYTES_PER_DETECTOR * num_detectors,
                        build_seconds=copies * SECONDS_PER_DETECTOR * num_detectors)


def available_memory_bytes() -> int | None:
    """Memory available to new allocations now (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:   # not Linux: no estimate to check against
        return None
    return None


def check_fits(estimate: WorkEstimate, *, what: str) -> None:
    """Refuse ``what`` (e.g. "--distance 201 --rounds 201") if it cannot fit in memory."""
    available = available_memory_bytes()
    if available is not None and estimate.memory_bytes > available:
        raise InputError(f"{what}: {estimate.describe()}; only "
                         f"{available / 2**30:.1f} GiB of memory is available here")
