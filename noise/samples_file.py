"""Detection-event sample files as bit-packed chunks, for streaming into an estimator.

Reading and validation are :func:`qec.sample_io.read_sample_file`'s (stim's b8, 01 and dets
formats; a file that does not hold the circuit's detector count per shot is refused with a
message naming the file and both counts); this module only slices the result into chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qec import DEFAULT_CHUNK_SHOTS, InputError
from qec.sample_io import SAMPLE_FORMATS, read_sample_file

__all__ = ["SAMPLE_FORMATS", "read_detector_chunks"]


def read_detector_chunks(
    path: str | Path, *, num_detectors: int, num_observables: int = 0,
    sample_format: str = "b8", max_shots: int | None = None,
    chunk_shots: int = DEFAULT_CHUNK_SHOTS,
) -> Iterator[np.ndarray]:
    """Yield (shots, ceil(D/8)) uint8 bit-packed detection events of a sample file.

    ``num_observables`` is the number of observable bits stored after the detectors in each
    shot (stim's ``append_observables``); they are dropped.
    """
    if not Path(path).is_file():
        raise InputError(f"samples file {str(path)!r} does not exist")
    dets = read_sample_file(path, format=sample_format, num_detectors=num_detectors,
                            num_observables=num_observables).dets[:max_shots]
    for start in range(0, dets.shape[0], chunk_shots):
        yield dets[start:start + chunk_shots]
