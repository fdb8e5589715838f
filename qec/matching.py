"""PyMatching decoders built from a detector error model, batch-decoding bit-packed shots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymatching
import stim

from qec.bits import check_packed
from qec.errors import InputError

MATCHING_DECODERS = ("pymatching", "pymatching-correlated")


@dataclass(frozen=True, eq=False)
class MatchingDecoder:
    """A PyMatching matcher with its name, uncorrelated or correlated.

    Build it with :meth:`from_dem`; decode with :meth:`decode_batch`.

    Examples:
        >>> from qec import Task, NoiseModel, sample_detectors
        >>> task = Task(distance=3, noise=NoiseModel.uniform(0.001))
        >>> dec = MatchingDecoder.from_dem(task.dem())
        >>> chunk = next(sample_detectors(task.circuit(), shots=100, seed=0))
        >>> dec.decode_batch(chunk.dets).shape
        (100, 1)
    """

    matching: pymatching.Matching
    correlated: bool
    num_detectors: int
    num_observables: int

    @property
    def name(self) -> str:
        return "pymatching-correlated" if self.correlated else "pymatching"

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, correlated: bool = False) -> MatchingDecoder:
        """Build from a (decomposed) DEM; ``correlated`` enables PyMatching's correlations."""
        matching = pymatching.Matching.from_detector_error_model(
            dem, enable_correlations=correlated)
        return cls(matching, correlated, dem.num_detectors, dem.num_observables)

    @classmethod
    def named(cls, name: str, dem: stim.DetectorErrorModel) -> MatchingDecoder:
        """``MatchingDecoder.named('pymatching-correlated', dem)``."""
        if name not in MATCHING_DECODERS:
            raise InputError(f"decoder={name!r} is not a matching decoder; choose one of "
                             f"{', '.join(MATCHING_DECODERS)}")
        return cls.from_dem(dem, correlated=name == "pymatching-correlated")

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(shots, ceil(D/8)) uint8 bit-packed detectors -> (shots, ceil(O/8)) uint8 predictions."""
        dets = check_packed(dets_bit_packed, self.num_detectors, "dets_bit_packed")
        try:
            predictions = self.matching.decode_batch(
                dets, bit_packed_shots=True, bit_packed_predictions=True,
                enable_correlations=self.correlated)
        except ValueError as exc:  # PyMatching's "No perfect matching could be found"
            raise InputError(f"dets_bit_packed: a shot has an odd number of detection events "
                             "in a part of the matching graph that no error connects to a "
                             "boundary; these events cannot come from this circuit (is it "
                             f"noiseless, or were they sampled from another one?) (PyMatching: "
                             f"{str(exc).splitlines()[0]})") from exc
        return predictions.astype(np.uint8, copy=False)

    def decode_to_edges(self, dets: np.ndarray) -> np.ndarray:
        """One shot's (D,) 0/1 detectors -> (E, 2) matched detector pairs (-1 = boundary)."""
        return self.matching.decode_to_edges_array(
            np.asarray(dets, dtype=np.uint8), enable_correlations=self.correlated)
