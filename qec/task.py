"""The experiment a run describes: code, distance, rounds, basis and noise."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

import stim

from qec.circuits import Basis, memory_circuit, validate_basis, validate_distance, validate_rounds
from qec.errors import InputTypeError
from qec.noise_models import NoiseModel


@dataclass(frozen=True)
class Task:
    """A rotated surface-code memory experiment under a noise model.

    Args:
        distance: odd code distance >= 3.
        noise: the :class:`NoiseModel` decorating the clean circuit.
        rounds: stabilizer rounds >= 1 (None: ``distance``).
        basis: 'X' or 'Z'.

    Examples:
        >>> t = Task(distance=3, noise=NoiseModel.uniform(0.001))
        >>> t.rounds, t.circuit().num_detectors
        (3, 24)
    """

    distance: int
    noise: NoiseModel
    rounds: int | None = None
    basis: Basis = "X"

    def __post_init__(self) -> None:
        validate_distance(self.distance)
        if self.rounds is None:
            object.__setattr__(self, "rounds", self.distance)
        validate_rounds(self.rounds)
        validate_basis(self.basis)
        if not isinstance(self.noise, NoiseModel):
            raise InputTypeError(f"noise={self.noise!r} must be a qec.NoiseModel")

    def circuit(self) -> stim.Circuit:
        """The noisy circuit (cached per task)."""
        return _noisy_circuit(self).copy()

    def dem(self) -> stim.DetectorErrorModel:
        """The circuit's detector error model, graphlike-decomposed for matching (cached)."""
        return _dem(self).copy()

    @property
    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over code, distance, rounds, basis and the noise model's
        fingerprint: two tasks have the same detectors and noise iff these are equal.

        Examples:
            >>> a = Task(distance=3, noise=NoiseModel.uniform(0.001))
            >>> a.fingerprint == Task(distance=3, noise=NoiseModel.uniform(0.001)).fingerprint
            True
            >>> a.fingerprint == Task(distance=3, noise=NoiseModel.uniform(0.002)).fingerprint
            False
        """
        blob = json.dumps(self.metadata(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def metadata(self, seed: int | None = None) -> dict:
        """The ``task`` object of ``qecpipe run --json`` (and sinter's json_metadata)."""
        meta = {"code": "rotated_surface_memory", "distance": self.distance,
                "rounds": self.rounds, "basis": self.basis, "noise": self.noise.name,
                "p": self.noise.p, "noise_fingerprint": self.noise.fingerprint}
        if seed is not None:
            meta["seed"] = seed
        return meta

    def sinter_metadata(self) -> dict:
        """The task part of a sinter CSV row's ``json_metadata``: the keys sinter users write
        (``d`` distance, ``r`` rounds, ``b`` basis, ``p``), so one ``sinter plot --x_func m.p``
        serves qecpipe's rows and ``sinter collect --metadata_func auto``'s, plus the noise
        model's name and fingerprint (which covers per-qubit multipliers). No seed: rows of
        independent shots of the same experiment merge.

        Examples:
            >>> Task(distance=3, noise=NoiseModel.uniform(0.001)).sinter_metadata()["d"]
            3
        """
        return {"b": self.basis, "code": "rotated_surface_memory", "d": self.distance,
                "noise": self.noise.name, "noise_fingerprint": self.noise.fingerprint,
                "p": self.noise.p, "r": self.rounds}


def circuit_dem(circuit: stim.Circuit) -> stim.DetectorErrorModel:
    """The graphlike-decomposed DEM of any circuit, as every matcher in qecpipe builds it."""
    return circuit.detector_error_model(decompose_errors=True, approximate_disjoint_errors=True)


@lru_cache(maxsize=32)
def _noisy_circuit(task: Task) -> stim.Circuit:
    clean = memory_circuit(distance=task.distance, rounds=task.rounds, basis=task.basis)
    # Through text once: stim prints probabilities with finite precision, and a circuit file,
    # sinter's worker processes and the DEM they build must all be this very circuit.
    return stim.Circuit(str(task.noise.apply(clean)))


@lru_cache(maxsize=32)
def _dem(task: Task) -> stim.DetectorErrorModel:
    return circuit_dem(_noisy_circuit(task))
