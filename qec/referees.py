"""Referees: slower, more accurate decoders that settle the shots two fast decoders dispute.

A layered decoder (``pipelines``: ``predecoder+consensus...``) decodes every shot twice, with
correlated PyMatching and with the pre-decoder's soft mode; where the two agree that is the
answer, and only the contested shots (about 2 % at p = 0.006) go to a referee. The referees
here need no network, only the circuit's DEM:

- ``beliefmatching`` (PyPI ``beliefmatching``): belief propagation on the full DEM, then
  minimum-weight matching with the BP-updated edge weights (arXiv:2203.04948);
- ``tesseract`` / ``tesseract-short`` (PyPI ``tesseract-decoder``): A* / beam search for the
  most likely error (arXiv:2503.10988), long-beam and short-beam settings of its README
  (beam 20, 21 detector orders / beam 15, 16 orders; ``pqlimit`` 10^6 / 2*10^5).

Both packages are optional (``pip install 'qecpipe[referees]'``): building a referee whose
package is missing raises :class:`MissingRefereeError` (an :class:`InputError`, so the command
line reports it in one line with exit code 2) naming the package to install.

:func:`referee_within_budget` runs a referee shot by shot until a time budget is spent; the
shots it did not reach are reported, and the caller keeps its own answer for them.

Examples:
    >>> import stim
    >>> dem = stim.DetectorErrorModel('''
    ...     error(0.1) D0
    ...     error(0.1) D0 D1 L0
    ...     error(0.1) D1
    ... ''')
    >>> class Parity:            # any object with decode_bool works as a referee
    ...     name, num_observables = "parity", 1
    ...     def decode_bool(self, dets):
    ...         return dets[:, :1] & dets[:, 1:2]
    >>> dets = np.array([[1, 1], [1, 0], [0, 0]], dtype=bool)
    >>> out = referee_within_budget(Parity(), dets, budget_seconds=None)
    >>> out.predictions.astype(int).tolist(), out.decoded, out.skipped
    ([[1], [0], [0]], 3, 0)
    >>> out = referee_within_budget(Parity(), dets, budget_seconds=0.0)
    >>> out.decoded, out.skipped                    # a spent budget refers no shot
    (0, 3)
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import stim

from qec.errors import InputError

TESSERACT_PRESETS: dict[str, dict[str, int]] = {
    "tesseract": {"det_beam": 20, "pqlimit": 1_000_000, "num_det_orders": 21},
    "tesseract-short": {"det_beam": 15, "pqlimit": 200_000, "num_det_orders": 16},
}
REFEREE_PACKAGES = {"beliefmatching": ("beliefmatching", "beliefmatching"),
                    "tesseract": ("tesseract_decoder", "tesseract-decoder"),
                    "tesseract-short": ("tesseract_decoder", "tesseract-decoder")}
REFEREE_NAMES = tuple(REFEREE_PACKAGES)
DEFAULT_BP_ITERS = 20


class MissingRefereeError(InputError):
    """A referee's optional package is not installed (the message says what to install)."""


@runtime_checkable
class Referee(Protocol):
    """Decodes (S, D) bool detection events to (S, O) bool observable flips."""

    name: str
    num_observables: int

    def decode_bool(self, dets: np.ndarray) -> np.ndarray: ...


def require_package(referee: str) -> None:
    """Raise :class:`MissingRefereeError` unless referee ``referee``'s package is importable.

    Examples:
        >>> require_package("nonsense")
        Traceback (most recent call last):
        ...
        qec.referees.MissingRefereeError: referee='nonsense' is unknown; choose one of \
beliefmatching, tesseract, tesseract-short
    """
    if referee not in REFEREE_PACKAGES:
        raise MissingRefereeError(f"referee={referee!r} is unknown; choose one of "
                                  f"{', '.join(REFEREE_NAMES)}")
    module, dist = REFEREE_PACKAGES[referee]
    if importlib.util.find_spec(module) is None:
        raise MissingRefereeError(
            f"the {referee} referee needs the optional package {dist!r}, which is not "
            f"installed: pip install {dist} (or pip install 'qecpipe[referees]')")


class BeliefMatchingReferee:
    """Belief-matching on a DEM (BP with ``max_bp_iters`` iterations, then matching)."""

    name = "beliefmatching"

    def __init__(self, dem: stim.DetectorErrorModel, *,
                 max_bp_iters: int = DEFAULT_BP_ITERS) -> None:
        require_package("beliefmatching")
        from beliefmatching import BeliefMatching

        if isinstance(max_bp_iters, bool) or not isinstance(max_bp_iters, int) \
                or max_bp_iters < 1:
            raise InputError(f"max_bp_iters={max_bp_iters!r} must be an integer >= 1")
        self.num_detectors, self.num_observables = dem.num_detectors, dem.num_observables
        self.max_bp_iters = max_bp_iters
        self._decoder = BeliefMatching(dem, max_bp_iters=max_bp_iters,
                                       bp_method="product_sum")

    def decode_bool(self, dets: np.ndarray) -> np.ndarray:
        dets = _check_dets(dets, self.num_detectors)
        if dets.shape[0] == 0:
            return np.zeros((0, self.num_observables), dtype=bool)
        out = np.asarray(self._decoder.decode_batch(dets.astype(np.uint8)), dtype=bool)
        return out.reshape(dets.shape[0], self.num_observables)


class TesseractReferee:
    """Tesseract's beam search on a DEM, with the settings of preset ``name``
    (a key of :data:`TESSERACT_PRESETS`). Shots are decoded one at a time."""

    def __init__(self, dem: stim.DetectorErrorModel, *, name: str = "tesseract") -> None:
        if name not in TESSERACT_PRESETS:
            raise InputError(f"name={name!r} must be one of {', '.join(TESSERACT_PRESETS)}")
        require_package(name)
        from tesseract_decoder import tesseract, utils

        preset = TESSERACT_PRESETS[name]
        self.name = name
        self.num_detectors, self.num_observables = dem.num_detectors, dem.num_observables
        orders = utils.build_det_orders(dem=dem, num_det_orders=preset["num_det_orders"],
                                        method=utils.DetOrder.DetIndex, seed=0)
        self._decoder = tesseract.TesseractConfig(
            dem=dem, det_beam=preset["det_beam"], beam_climbing=True,
            pqlimit=preset["pqlimit"], no_revisit_dets=True, merge_errors=True,
            det_orders=orders).compile_decoder()

    def decode_bool(self, dets: np.ndarray) -> np.ndarray:
        dets = _check_dets(dets, self.num_detectors)
        out = np.zeros((dets.shape[0], self.num_observables), dtype=bool)
        for s, row in enumerate(dets):
            out[s] = np.asarray(self._decoder.decode(row), dtype=bool)
        return out


def make_referee(name: str, dem: stim.DetectorErrorModel) -> Referee:
    """The network-free referee ``name`` (one of :data:`REFEREE_NAMES`) built from ``dem``."""
    require_package(name)
    if name == "beliefmatching":
        return BeliefMatchingReferee(dem)
    return TesseractReferee(dem, name=name)


@dataclass(frozen=True)
class RefereeOutcome:
    """What a referee decided within its budget.

    Attributes:
        predictions: (S, O) bool, the referee's answers; rows >= ``decoded`` are False
            (not decoded: the caller keeps its own answer there).
        decoded: shots decoded (the first ``decoded`` rows, in order).
        skipped: shots not reached because the budget was spent.
        seconds: time spent deciding.
    """

    predictions: np.ndarray
    decoded: int
    skipped: int
    seconds: float


def referee_within_budget(referee: Referee, dets: np.ndarray, *,
                          budget_seconds: float | None) -> RefereeOutcome:
    """Decode the shots of ``dets`` ((S, D) bool) with ``referee``, in order, until
    ``budget_seconds`` are spent (None: no limit, one batch call); see :func:`decide_within`."""
    dets = np.asarray(dets, dtype=bool)
    if budget_seconds is None:
        start = time.perf_counter()
        preds = referee.decode_bool(dets)
        return RefereeOutcome(preds, dets.shape[0], 0, time.perf_counter() - start)
    return decide_within(dets.shape[0], lambda s: referee.decode_bool(dets[s:s + 1])[0],
                         num_observables=referee.num_observables, budget_seconds=budget_seconds)


def decide_within(shots: int, decide_one: Callable[[int], np.ndarray], *,
                  num_observables: int, budget_seconds: float | None) -> RefereeOutcome:
    """Call ``decide_one(s)`` ((O,) bool answer of shot s) for s = 0, 1, ... until
    ``budget_seconds`` are spent (None: no limit). A shot started within the budget is
    finished, so the budget is overrun by at most one shot's time; a budget of 0 decides
    nothing."""
    if budget_seconds is not None and (isinstance(budget_seconds, bool) or not (
            np.isfinite(budget_seconds) and budget_seconds >= 0)):
        raise InputError(f"budget_seconds={budget_seconds!r} must be a finite number >= 0 "
                         "or None")
    start = time.perf_counter()
    preds, decoded = np.zeros((shots, num_observables), dtype=bool), 0
    while decoded < shots and (budget_seconds is None
                               or time.perf_counter() - start < budget_seconds):
        preds[decoded] = decide_one(decoded)
        decoded += 1
    return RefereeOutcome(preds, decoded, shots - decoded, time.perf_counter() - start)


def _check_dets(dets: np.ndarray, num_detectors: int) -> np.ndarray:
    dets = np.asarray(dets, dtype=bool)
    if dets.ndim != 2 or dets.shape[1] != num_detectors:
        raise InputError(f"dets has shape {dets.shape}; expected (shots, {num_detectors})")
    return dets


def perturbed_dem(dem: stim.DetectorErrorModel, *, sigma: float,
                  seed: int) -> stim.DetectorErrorModel:
    """``dem`` (flattened) with every error probability p multiplied by exp(sigma * N(0, 1))
    (seeded), capped below 1/2: the perturbed priors of a Harmony ensemble member
    (arXiv:2401.12434).

    Examples:
        >>> dem = stim.DetectorErrorModel("error(0.1) D0 L0\\nerror(0.2) D0 D1")
        >>> str(perturbed_dem(dem, sigma=0.0, seed=0)) == str(dem)
        True
        >>> [round(i.args_copy()[0], 3) for i in perturbed_dem(dem, sigma=0.5, seed=1)]
        [0.119, 0.302]
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise InputError(f"sigma={sigma!r} must be a finite number >= 0")
    rng = np.random.default_rng(seed)
    out = stim.DetectorErrorModel()
    for inst in dem.flattened():
        if inst.type == "error":
            p = inst.args_copy()[0] * float(np.exp(sigma * rng.standard_normal()))
            inst = stim.DemInstruction("error", [min(p, 0.499)], inst.targets_copy())
        out.append(inst)
    return out
