"""Seeded, chunked sampling of detection events in stim's bit-packed convention.

Shots come in blocks of ``chunk_shots``; block k is drawn with a seed derived from
(seed, k), so the same (seed, chunk_shots) always gives the same shots, and the first N
shots do not depend on how many are asked for. Memory stays bounded by one block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import stim

from qec.errors import InputError

DEFAULT_CHUNK_SHOTS = 16384


@dataclass(frozen=True)
class SampleChunk:
    """One block of shots. ``dets`` (shots, ceil(D/8)) and ``obs`` (shots, ceil(O/8)) uint8,
    bit-packed little-endian; ``errors`` (shots, ceil(E/8)) when sampled from a DEM."""

    dets: np.ndarray
    obs: np.ndarray
    errors: np.ndarray | None = None

    @property
    def shots(self) -> int:
        return int(self.dets.shape[0])


def block_seed(seed: int, block: int) -> int:
    """The stim seed of block ``block`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, block]).generate_state(1, np.uint64)[0] >> 1)


def _check(shots: int, seed: int, chunk_shots: int) -> None:
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 0:
        raise InputError(f"shots={shots!r} must be an integer >= 0")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} must be an integer >= 0")
    if chunk_shots < 1:
        raise InputError(f"chunk_shots={chunk_shots} must be >= 1")


def sample_detectors(
    circuit: stim.Circuit, *, shots: int, seed: int, chunk_shots: int = DEFAULT_CHUNK_SHOTS
) -> Iterator[SampleChunk]:
    """Yield detection events and observable flips of ``circuit`` in seeded blocks.

    Examples:
        >>> from qec import Task, NoiseModel
        >>> c = Task(distance=3, noise=NoiseModel.uniform(0.01)).circuit()
        >>> chunks = list(sample_detectors(c, shots=10, seed=1, chunk_shots=4))
        >>> [ch.shots for ch in chunks], chunks[0].dets.shape
        ([4, 4, 2], (4, 3))
    """
    _check(shots, seed, chunk_shots)
    for block, start in enumerate(range(0, shots, chunk_shots)):
        n = min(chunk_shots, shots - start)
        sampler = circuit.compile_detector_sampler(seed=block_seed(seed, block))
        # Always draw the whole block: stim's output for n shots is not the prefix of its
        # output for more, and the first N shots must not depend on the total asked for.
        dets, obs = sampler.sample(chunk_shots, separate_observables=True, bit_packed=True)
        yield SampleChunk(dets=dets[:n], obs=obs[:n])


def sample_dem(
    dem: stim.DetectorErrorModel, *, shots: int, seed: int,
    chunk_shots: int = DEFAULT_CHUNK_SHOTS,
) -> Iterator[SampleChunk]:
    """Yield DEM samples with the fired error mechanisms (training labels).

    ``errors[s]`` has bit k set when the k-th ``error`` instruction of ``dem.flattened()``
    fired in shot s (stim's ``return_errors=True``).
    """
    _check(shots, seed, chunk_shots)
    for block, start in enumerate(range(0, shots, chunk_shots)):
        n = min(chunk_shots, shots - start)
        sampler = dem.compile_sampler(seed=block_seed(seed, block))
        dets, obs, errors = sampler.sample(chunk_shots, bit_packed=True, return_errors=True)
        yield SampleChunk(dets=dets[:n], obs=obs[:n], errors=errors[:n])
