"""The decoder registry: a name -> a batch decoder built for one task.

Every decoder takes bit-packed detectors (shots, ceil(D/8)) uint8 and returns bit-packed
observable predictions (shots, ceil(O/8)) uint8. Decoders may also expose ``last_metrics``
(a dict of per-stage seconds and densities accumulated over calls) for the run report.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import stim

from qec import MATCHING_DECODERS, MatchingDecoder, Task


class BatchDecoder(Protocol):
    name: str

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray: ...


DECODER_NAMES: tuple[str, ...] = MATCHING_DECODERS


def validate_decoder_names(names: list[str]) -> list[str]:
    """Return ``names`` if every one is known, else raise naming the first unknown one."""
    if not names:
        raise ValueError("decoders=[] must name at least one decoder")
    for name in names:
        if name not in DECODER_NAMES:
            raise ValueError(f"decoder={name!r} is unknown; choose from {', '.join(DECODER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"decoders={names} names a decoder twice")
    return names


def make_decoder(
    name: str, task: Task, *, dem: stim.DetectorErrorModel | None = None
) -> BatchDecoder:
    """Build decoder ``name`` for ``task``.

    The global matcher is built from ``dem`` when given (e.g. learned weights on the same
    detectors), else from the task's own DEM.
    """
    validate_decoder_names([name])
    return MatchingDecoder.named(name, task.dem() if dem is None else dem)
