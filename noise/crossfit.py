"""Cross-fitting: weights learned from one half of the shots decode the other half.

A decoder whose weights were learned from the very shots it decodes is scored in-sample, and
its error rate is optimistic. Cross-fitting (as Google's published ``pij_from_even_for_odd``
/ ``pij_from_odd_for_even`` DEMs do) learns on the even shots (0, 2, 4, ...) to decode the odd
ones and on the odd shots to decode the even ones, so every shot is decoded by weights that
never saw it, and the predictions of both halves together cover every shot.

Examples:
    >>> import numpy as np
    >>> half_indices(5, "even").tolist(), half_indices(5, "odd").tolist()
    ([0, 2, 4], [1, 3])

    A toy "decoder" that predicts the parity of the half it was fitted on:

    >>> class Const:
    ...     def __init__(self, bit): self.bit = bit
    ...     def decode_batch(self, dets): return np.full((len(dets), 1), self.bit, np.uint8)
    >>> cross_fit_decode(np.zeros((5, 1), np.uint8),
    ...                  {"even": Const(0), "odd": Const(1)}).ravel().tolist()
    [1, 0, 1, 0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import stim

from noise.estimate import NoiseEstimate, estimate_noise
from noise.structure import NoiseStructure
from qec import DEFAULT_CHUNK_SHOTS, InputError

HALVES = ("even", "odd")
OTHER_HALF = {"even": "odd", "odd": "even"}
MIN_HALF_SHOTS = 1000


class _BatchDecoder(Protocol):
    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray: ...


def half_indices(num_shots: int, half: str) -> np.ndarray:
    """The shot indices of ``half``: 'even' (0, 2, 4, ...) or 'odd' (1, 3, 5, ...)."""
    if half not in HALVES:
        raise InputError(f"half={half!r} must be 'even' or 'odd'")
    return np.arange(HALVES.index(half), num_shots, 2)


def decode_in_chunks(decoder: _BatchDecoder, dets_bit_packed: np.ndarray, *,
                     chunk_shots: int = DEFAULT_CHUNK_SHOTS) -> np.ndarray:
    """(S, ceil(D/8)) uint8 -> (S, ceil(O/8)) uint8 predictions, ``chunk_shots`` at a time."""
    parts = []
    for start in range(0, dets_bit_packed.shape[0], chunk_shots):
        try:
            parts.append(decoder.decode_batch(dets_bit_packed[start:start + chunk_shots]))
        except InputError as exc:  # a shot the decoder refuses: its number counts from the chunk
            where = f" (shots counted from {start})" if start else ""
            raise InputError(f"{exc}{where}") from exc
    return np.concatenate(parts)


def cross_fit_decode(dets_bit_packed: np.ndarray, decoders: Mapping[str, _BatchDecoder], *,
                     chunk_shots: int = DEFAULT_CHUNK_SHOTS) -> np.ndarray:
    """Predictions for every shot, each half decoded by the decoder fitted on the other.

    Args:
        dets_bit_packed: (S, ceil(D/8)) uint8 detection events.
        decoders: half -> decoder whose weights were fitted on that half ('even' -> decodes
            the odd shots; 'odd' -> decodes the even shots).
        chunk_shots: shots per ``decode_batch`` call.

    Returns:
        (S, ceil(O/8)) uint8 predictions in the shots' order.
    """
    if set(decoders) != set(HALVES):
        raise InputError(f"decoders has keys {sorted(decoders)}; cross-fitting needs one "
                         "decoder fitted on each half: 'even' and 'odd'")
    shots = dets_bit_packed.shape[0]
    out = None
    for fitted_on, decoder in decoders.items():
        idx = half_indices(shots, OTHER_HALF[fitted_on])
        if idx.size == 0:
            continue
        pred = decode_in_chunks(decoder, dets_bit_packed[idx], chunk_shots=chunk_shots)
        if out is None:
            out = np.zeros((shots, pred.shape[1]), dtype=np.uint8)
        out[idx] = pred
    return out


def estimate_halves(dets_bit_packed: np.ndarray, *, structure: NoiseStructure,
                    method: str = "mechanisms") -> dict[str, NoiseEstimate]:
    """One noise estimate from each half of the shots ('even', 'odd').

    Raises:
        InputError: a half has fewer than MIN_HALF_SHOTS shots (too few to learn from).
    """
    shots = dets_bit_packed.shape[0]
    if shots // 2 < MIN_HALF_SHOTS:
        raise InputError(f"{shots} shots: learning weights from half of them needs at least "
                         f"{2 * MIN_HALF_SHOTS} shots")
    return {half: estimate_noise([dets_bit_packed[half_indices(shots, half)]],
                                 structure=structure, method=method) for half in HALVES}


def cross_fitted_decoders(
    dems: Mapping[str, stim.DetectorErrorModel],
    make: Callable[[stim.DetectorErrorModel], _BatchDecoder],
) -> dict[str, _BatchDecoder]:
    """half -> ``make(dems[half])``: one decoder per half from the DEM fitted on it."""
    if set(dems) != set(HALVES):
        raise InputError(f"dems has keys {sorted(dems)}; expected 'even' and 'odd'")
    return {half: make(dems[half]) for half in HALVES}
