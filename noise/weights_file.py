"""weights.json: learned matching weights, portable between ``learn-noise`` and ``run``.

JSON object (add fields, never rename)::

    {"format": "qecpipe-noise-weights", "format_version": 1,
     "method": "mechanisms", "shots": 1000000,
     "num_detectors": 120, "num_observables": 1,
     "structure_fingerprint": "...",          # DEM targets without probabilities
     "edges": [[a, b, obs_mask], ...],        # b = -1: boundary edge
     "edge_prob": [...],                      # probabilities in (0, 1/2), see below
     "pair_prob": [...],                      # two-point edges: the uncorrelated matcher's
     "mechanisms": ["D0 D1 ^ D5 D7", ...],    # 'mechanisms' method only: decomposed DEM
     "mechanism_prob": [...],
     "source": {...}}                         # how the samples were obtained

Every probability in the file is a number in (0, 1/2): ``learn-noise`` clamps its raw
estimates to [p_min, 1/2 - eps] before writing (what remains to clamp once
:func:`noise.estimate.check_estimate` has refused impossible statistics: estimator noise on
small probabilities, undefined edges of detectors that never fired, the two-point formula's
hyperedge bias), and a file holding null, NaN, a negative number or anything >= 1/2 is
refused when read: it was not written by ``learn-noise`` from valid samples.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import stim

from noise.estimate import METHODS, NoiseEstimate
from noise.reweight import DEFAULT_P_MIN, clamp_probabilities
from qec import InputError, MatchingGraph, atomic_write

log = logging.getLogger(__name__)

FORMAT = "qecpipe-noise-weights"
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class NoiseWeights:
    """The content of a weights.json file (see the module docstring)."""

    method: str
    shots: int
    num_detectors: int
    num_observables: int
    structure_fingerprint: str
    edges: np.ndarray  # (E, 3) int64: a, b (-1 boundary), observable mask
    edge_prob: np.ndarray  # (E,)
    mechanisms: tuple[str, ...] | None = None
    mechanism_prob: np.ndarray | None = None
    source: dict = field(default_factory=dict)
    pair_prob: np.ndarray | None = None  # (E,) two-point edges (uncorrelated matching)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method={self.method!r} must be one of {', '.join(METHODS)}")
        if self.edges.ndim != 2 or self.edges.shape[1] != 3:
            raise InputError(f"edges has shape {self.edges.shape}; expected (E, 3)")
        if self.edge_prob.shape != (self.edges.shape[0],):
            raise InputError(f"edge_prob has {self.edge_prob.size} entries for "
                             f"{self.edges.shape[0]} edges")
        if self.edges.size and (self.edges[:, :2].max() >= self.num_detectors):
            raise InputError(f"an edge names detector {int(self.edges[:, :2].max())}; "
                             f"num_detectors={self.num_detectors}")
        if self.pair_prob is not None and self.pair_prob.shape != self.edge_prob.shape:
            raise InputError(f"pair_prob has {self.pair_prob.size} entries for "
                             f"{self.edges.shape[0]} edges")
        if (self.mechanisms is None) != (self.mechanism_prob is None) or (
                self.mechanisms is not None and len(self.mechanisms) != len(self.mechanism_prob)):
            raise InputError("mechanisms and mechanism_prob must both be given, equally long")
        for name in ("edge_prob", "pair_prob", "mechanism_prob"):
            _check_probabilities(name, getattr(self, name))
        if self.mechanisms is not None:
            _check_mechanisms(self.mechanisms, self.num_detectors, self.num_observables)

    @classmethod
    def from_estimate(cls, est: NoiseEstimate, *, source: dict | None = None) -> NoiseWeights:
        g = est.structure.graph
        edges = np.column_stack([g.edge_dets, g.edge_obs]).astype(np.int64)
        mechanisms = None
        if est.mechanism_prob is not None:
            mechanisms = _mechanism_targets(est.structure)
        def clamped(prob, what):   # expected on valid samples (module docstring): INFO
            return None if prob is None else clamp_probabilities(prob, what=what,
                                                                 level=logging.INFO)

        return cls(est.method, est.shots, g.num_detectors, g.num_observables,
                   est.structure.fingerprint, edges,
                   clamped(est.edge_prob, "edge probabilities"),
                   mechanisms, clamped(est.mechanism_prob, "mechanism probabilities"),
                   dict(source or {}), clamped(est.pair_prob, "pairwise edge probabilities"))

    def check_matches(self, structure, *, what: str) -> None:
        """Refuse a file learned for another circuit: its structure fingerprint, detector and
        observable counts and edge set (with observable masks) must be ``structure``'s
        (a :class:`noise.NoiseStructure`); the message names both fingerprints."""
        graph = structure.graph
        if (self.num_detectors, self.num_observables) != (graph.num_detectors,
                                                          graph.num_observables):
            raise InputError(f"the weights file has {self.num_detectors} detectors and "
                             f"{self.num_observables} observables but {what} has "
                             f"{graph.num_detectors} and {graph.num_observables}")
        if self.structure_fingerprint != structure.fingerprint:
            raise InputError(f"the weights file was learned for structure "
                             f"{self.structure_fingerprint}, but {what} has structure "
                             f"{structure.fingerprint} (another basis, layout or noise "
                             "structure); learn weights for this task")
        if self.mechanisms is not None and self.mechanisms != _mechanism_targets(structure):
            raise InputError(f"the weights file's mechanisms are not those of {what}, although "
                             "the fingerprints agree: it was edited or corrupted")
        ours = set(map(tuple, np.column_stack([graph.edge_dets, graph.edge_obs]).tolist()))
        if set(map(tuple, self.edges.tolist())) != ours:
            raise InputError(f"the weights file's edges (and observable masks) are not those "
                             f"of {what}, although the fingerprints agree: it was edited or "
                             "corrupted")

    def dem(self, *, correlated: bool = False, p_min: float = DEFAULT_P_MIN
            ) -> stim.DetectorErrorModel:
        """A matching DEM with the (clamped) probabilities of this file."""
        if correlated:
            if self.mechanisms is None:
                raise InputError(f"weights file method={self.method!r} has no mechanisms; "
                                 "correlated matching needs method='mechanisms'")
            prob = clamp_probabilities(self.mechanism_prob, p_min=p_min,
                                       what="mechanism probabilities")
            lines = [f"error({p!r}) {t}" for p, t in zip(prob.tolist(), self.mechanisms)]
            lines += [f"detector D{k}" for k in range(self.num_detectors)]
            lines += [f"logical_observable L{k}" for k in range(self.num_observables)]
            return stim.DetectorErrorModel("\n".join(lines))
        prob = self.edge_prob if self.pair_prob is None else self.pair_prob
        graph = MatchingGraph(self.num_detectors, self.num_observables, self.edges[:, :2].copy(),
                              self.edges[:, 2].copy(), prob,
                              tuple((k,) for k in range(len(self.edges))), prob)
        return graph.to_dem(clamp_probabilities(prob, p_min=p_min))

    def to_json(self) -> dict:
        out = {"format": FORMAT, "format_version": FORMAT_VERSION, "method": self.method,
               "shots": self.shots, "num_detectors": self.num_detectors,
               "num_observables": self.num_observables,
               "structure_fingerprint": self.structure_fingerprint,
               "edges": self.edges.tolist(), "edge_prob": _floats(self.edge_prob),
               "source": self.source}
        if self.pair_prob is not None:
            out["pair_prob"] = _floats(self.pair_prob)
        if self.mechanisms is not None:
            out["mechanisms"] = list(self.mechanisms)
            out["mechanism_prob"] = _floats(self.mechanism_prob)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> NoiseWeights:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} file (format={obj.get('format')!r})"
                             if isinstance(obj, dict) else f"not a {FORMAT} file")
        try:
            mech = obj.get("mechanisms")
            return cls(str(obj["method"]), int(obj["shots"]), int(obj["num_detectors"]),
                       int(obj["num_observables"]), str(obj["structure_fingerprint"]),
                       np.array(obj["edges"], dtype=np.int64).reshape(-1, 3),
                       _array(obj["edge_prob"]), None if mech is None else tuple(mech),
                       None if mech is None else _array(obj["mechanism_prob"]),
                       dict(obj.get("source", {})),
                       None if obj.get("pair_prob") is None else _array(obj["pair_prob"]))
        except InputError:   # a field of the right kind with a value the file may not hold
            raise
        except KeyError as exc:
            raise InputError(f"weights file lacks field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:   # a field of the wrong kind or shape
            raise InputError(f"weights file has a malformed field: "
                             f"{' '.join(str(exc).split())}") from exc


def save_noise_weights(weights: NoiseWeights, path: str | Path) -> None:
    """Write ``weights`` as JSON (NaN estimates as null)."""
    atomic_write(path, json.dumps(weights.to_json()) + "\n")


def load_noise_weights(path: str | Path) -> NoiseWeights:
    """Read a weights.json; ValueError naming the file if it is unreadable or malformed."""
    try:
        obj = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"weights file {str(path)!r} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"weights file {str(path)!r} is not JSON: byte {exc.start} is not "
                         "UTF-8 text (a binary file?)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"weights file {str(path)!r} is not JSON: {exc.msg} at line "
                         f"{exc.lineno}") from exc
    try:
        return NoiseWeights.from_json(obj)
    except InputError as exc:
        raise InputError(f"weights file {str(path)!r}: {exc}") from exc


def _mechanism_targets(structure) -> tuple[str, ...]:
    """Each error instruction's targets as text ("D0 D1 ^ D5 L0"), in the DEM's order."""
    return tuple(" ".join(str(t) for t in inst.targets_copy())
                 for inst in structure.dem.flattened() if inst.type == "error")


def _check_probabilities(name: str, prob: np.ndarray | None) -> None:
    if prob is None:
        return
    bad = np.flatnonzero(~((prob > 0) & (prob < 0.5)))
    if bad.size:
        k = int(bad[0])
        value = "null" if np.isnan(prob[k]) else repr(float(prob[k]))
        raise InputError(f"{name}[{k}]={value} must be a probability in (0, 0.5) ({bad.size} of "
                         f"{prob.size} are not); learn-noise writes only such values")


def _check_mechanisms(mechanisms: tuple[str, ...], num_detectors: int,
                      num_observables: int) -> None:
    """Each mechanism must be stim DEM targets ("D0 D1 ^ D5 L0") within the file's counts."""
    try:   # all at once first (fast); one by one only to name the first bad one
        whole = stim.DetectorErrorModel("".join(f"error(0.1) {t}\n" for t in mechanisms))
        if whole.num_detectors <= num_detectors and whole.num_observables <= num_observables:
            return
    except (ValueError, TypeError):   # not DEM target syntax somewhere: find it below
        pass
    for k, text in enumerate(mechanisms):
        try:
            dem = stim.DetectorErrorModel(f"error(0.1) {text}")
        except (ValueError, TypeError) as exc:   # not DEM target syntax
            raise InputError(f"mechanisms[{k}]={text!r} is not a list of DEM targets like "
                             f"'D0 D1 ^ D5 L0' ({' '.join(str(exc).split()[:10])})") from exc
        if dem.num_detectors > num_detectors or dem.num_observables > num_observables:
            raise InputError(f"mechanisms[{k}]={text!r} names a detector or observable beyond "
                             f"num_detectors={num_detectors}, "
                             f"num_observables={num_observables}")


def _floats(values: np.ndarray) -> list:
    return [None if not math.isfinite(v) else v for v in np.asarray(values, float).tolist()]


def _array(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)
