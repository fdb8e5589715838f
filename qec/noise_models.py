"""Circuit-level noise models that decorate a noiseless circuit.

One general per-location model, :class:`NoiseModel`, holds every probability; the named
models are constructors of it:

- :meth:`NoiseModel.uniform` -- the convention of arXiv:2604.12841: preparation and
  measurement flips 2p/3, DEPOLARIZE2(p) after every CNOT, DEPOLARIZE1(p) on qubits idle in a
  CNOT layer, two such steps (2p/3 - 4p^2/9 per Pauli) on data idle through measure/reset.
- :meth:`NoiseModel.si1000` -- Gidney, Newman, McEwen (2021), superconducting-inspired.
- :meth:`NoiseModel.stim` -- stim's four knobs, as in ``stim.Circuit.generated``.

Per-qubit multipliers scale every probability on a qubit (two-qubit channels by the mean of
the pair's multipliers), for non-uniform and drifting noise. Every model has a stable
``fingerprint`` recorded in outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import stim

from qec.errors import InputError

PAULIS_2Q = ("IX", "IY", "IZ", "XI", "XX", "XY", "XZ", "YI", "YX", "YY", "YZ",
             "ZI", "ZX", "ZY", "ZZ")
NOISE_NAMES = ("uniform", "si1000", "stim")

_RESET = {"R": "X_ERROR", "RX": "Z_ERROR", "RY": "X_ERROR", "RZ": "X_ERROR"}
_MEASURE = {"M": "X_ERROR", "MX": "Z_ERROR", "MY": "X_ERROR", "MZ": "X_ERROR"}
_MEASURE_RESET = {"MR": "X_ERROR", "MRX": "Z_ERROR", "MRZ": "X_ERROR"}
_GATES_1Q = {"H", "S", "S_DAG", "SQRT_X", "SQRT_X_DAG", "X", "Y", "Z", "I"}
_GATES_2Q = {"CX", "CZ", "CNOT", "CY"}


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0 or value != value:
        raise InputError(f"{name}={value} must be a probability in [0, 1]")


def _check_channel(name: str, probs: Sequence[float], size: int) -> tuple[float, ...]:
    probs = tuple(float(v) for v in probs)
    if len(probs) != size:
        raise InputError(f"{name} has {len(probs)} entries; it needs {size}")
    for k, v in enumerate(probs):
        _check_probability(f"{name}[{k}]", v)
    if sum(probs) > 1.0 + 1e-12:
        raise InputError(f"{name} sums to {sum(probs):.6g}; a Pauli channel must sum to <= 1")
    return probs


@dataclass(frozen=True)
class NoiseModel:
    """Independent probabilities per circuit location (the paper's 25 parameters and more).

    Args:
        name: label shown in outputs ('uniform', 'si1000', 'stim' or 'general').
        p: headline strength the model was built from (reporting only).
        reset_flip: flip after every reset (X_ERROR after R, Z_ERROR after RX).
        measure_flip: flip before every measurement.
        gate1: (X, Y, Z) after every single-qubit Clifford.
        cnot: the 15 two-qubit Paulis after every CNOT, in stim's PAULI_CHANNEL_2 order.
        idle: (X, Y, Z) on every qubit idle in a two-qubit-gate layer.
        idle_gate1: (X, Y, Z) on every qubit idle in a single-qubit-gate layer.
        idle_measure: (X, Y, Z) on every qubit idle in a measure/reset layer.
        data_round_start: (X, Y, Z) on data qubits at the start of each round.
        qubit_multipliers: optional factor per qubit index (None: all 1).

    Examples:
        >>> m = NoiseModel.uniform(0.001)
        >>> m.reset_flip, m.cnot[0]
        (0.0006666666666666666, 6.666666666666667e-05)
        >>> m.fingerprint == NoiseModel.uniform(0.001).fingerprint
        True
    """

    name: str = "general"
    p: float = 0.0
    reset_flip: float = 0.0
    measure_flip: float = 0.0
    gate1: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cnot: tuple[float, ...] = (0.0,) * 15
    idle: tuple[float, float, float] = (0.0, 0.0, 0.0)
    idle_gate1: tuple[float, float, float] = (0.0, 0.0, 0.0)
    idle_measure: tuple[float, float, float] = (0.0, 0.0, 0.0)
    data_round_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    qubit_multipliers: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        _check_probability("reset_flip", self.reset_flip)
        _check_probability("measure_flip", self.measure_flip)
        for name, size in (("gate1", 3), ("cnot", 15), ("idle", 3), ("idle_gate1", 3),
                           ("idle_measure", 3),
                           ("data_round_start", 3)):
            object.__setattr__(self, name, _check_channel(name, getattr(self, name), size))
        if self.qubit_multipliers is not None:
            mult = tuple(float(m) for m in self.qubit_multipliers)
            bad = [m for m in mult if not (m >= 0 and np.isfinite(m))]
            if bad:
                raise InputError(f"qubit_multipliers contains {bad[0]}; each must be finite >= 0")
            object.__setattr__(self, "qubit_multipliers", mult)

    # ----- named models -------------------------------------------------------------------
    @classmethod
    def uniform(cls, p: float) -> NoiseModel:
        """The convention of arXiv:2604.12841 (threshold about 0.7%)."""
        _check_strength(p)
        twice = 2 * p / 3 - 4 * p * p / 9  # two DEPOLARIZE1(p) steps, per Pauli
        return cls(name="uniform", p=p, reset_flip=2 * p / 3, measure_flip=2 * p / 3,
                   cnot=(p / 15,) * 15, idle=(p / 3,) * 3, idle_measure=(twice,) * 3)

    @classmethod
    def si1000(cls, p: float) -> NoiseModel:
        """Superconducting-inspired SI1000 (Gidney, Newman, McEwen 2021)."""
        _check_strength(p, upper=0.1)
        return cls(name="si1000", p=p, reset_flip=2 * p, measure_flip=5 * p,
                   gate1=(p / 30,) * 3, cnot=(p / 15,) * 15, idle=(p / 30,) * 3,
                   idle_gate1=(p / 30,) * 3, idle_measure=(2 * p / 3,) * 3)

    @classmethod
    def stim(
        cls,
        p: float,
        *,
        after_clifford_depolarization: float | None = None,
        before_round_data_depolarization: float | None = None,
        before_measure_flip_probability: float | None = None,
        after_reset_flip_probability: float | None = None,
    ) -> NoiseModel:
        """stim's four knobs; each defaults to ``p`` (as sinter's usual examples)."""
        _check_strength(p)
        cliff = p if after_clifford_depolarization is None else after_clifford_depolarization
        data = p if before_round_data_depolarization is None else before_round_data_depolarization
        meas = p if before_measure_flip_probability is None else before_measure_flip_probability
        reset = p if after_reset_flip_probability is None else after_reset_flip_probability
        return cls(name="stim", p=p, reset_flip=reset, measure_flip=meas,
                   gate1=(cliff / 3,) * 3, cnot=(cliff / 15,) * 15,
                   data_round_start=(data / 3,) * 3)

    @classmethod
    def named(cls, name: str, p: float) -> NoiseModel:
        """``NoiseModel.named('uniform', 0.003)``; names: uniform, si1000, stim."""
        if name not in NOISE_NAMES:
            raise InputError(f"noise={name!r} is unknown; choose one of {', '.join(NOISE_NAMES)}")
        return getattr(cls, name)(p)

    def with_qubit_multipliers(self, multipliers: Sequence[float]) -> NoiseModel:
        """A copy whose probabilities on qubit q are scaled by ``multipliers[q]``."""
        return replace(self, qubit_multipliers=tuple(float(m) for m in multipliers))

    def with_random_multipliers(
        self, num_qubits: int, *, low: float = 0.5, high: float = 2.0, seed: int = 0
    ) -> NoiseModel:
        """Per-qubit factors drawn log-uniformly in [low, high], reproducibly from ``seed``."""
        if not 0 < low <= high:
            raise InputError(f"low={low}, high={high} must satisfy 0 < low <= high")
        rng = np.random.default_rng(seed)
        mult = np.exp(rng.uniform(np.log(low), np.log(high), size=num_qubits))
        return self.with_qubit_multipliers(mult.tolist())

    def scaled(self, factor: float) -> NoiseModel:
        """Every probability multiplied by ``factor`` (e.g. drift); ``p`` scales too."""
        def s(v):
            return tuple(x * factor for x in v)
        return replace(self, p=self.p * factor, reset_flip=self.reset_flip * factor,
                       measure_flip=self.measure_flip * factor, gate1=s(self.gate1),
                       cnot=s(self.cnot), idle=s(self.idle), idle_gate1=s(self.idle_gate1),
                       idle_measure=s(self.idle_measure),
                       data_round_start=s(self.data_round_start))

    @property
    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over every field: equal iff the models are equal."""
        blob = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def apply(self, circuit: stim.Circuit) -> stim.Circuit:
        """Return ``circuit`` with this model's noise inserted, moment by moment.

        A moment is the span between TICKs. Data qubits are those never targeted by a
        measure-reset (MR/MRX); the round starts at the first gate moment after one. Idle
        noise goes on untouched qubits of gate moments and of moments that reset.
        """
        return _Decorator(self, circuit).run()


# Measurement flip over two-qubit depolarization, per family: what tells them apart.
_MEASURE_OVER_2Q = {"uniform": 2 / 3, "si1000": 5.0, "stim": 1.0}
_FLIPS = ("X_ERROR", "Z_ERROR", "Y_ERROR")


def noise_family_of(circuit: stim.Circuit, *, tolerance: float = 1.2) -> str | None:
    """The named family (:data:`NOISE_NAMES`) whose signature the noise of ``circuit`` has, or
    None (no two-qubit or measurement noise, or a signature none of them has).

    The signature is the ratio of the median measurement flip (an X/Z_ERROR just before a
    measurement, or the measurement's own argument) to the median two-qubit depolarization
    (DEPOLARIZE2, or a PAULI_CHANNEL_2's total): 2/3 for uniform, 5 for si1000, 1 for stim's
    generator noise, matched within a factor ``tolerance`` (per-qubit multipliers move it
    little; the families are a factor 1.5 apart or more).

    Examples:
        >>> noise_family_of(stim.Circuit.generated("surface_code:rotated_memory_x",
        ...     distance=3, rounds=3, after_clifford_depolarization=0.004,
        ...     before_measure_flip_probability=0.004))
        'stim'
        >>> noise_family_of(stim.Circuit.generated("repetition_code:memory", distance=3,
        ...                                         rounds=2)) is None      # noiseless
        True
    """
    measure, two_qubit, pending = [], [], {}
    for inst in circuit.flattened():
        name, args = inst.name, inst.gate_args_copy()
        qubits = [t.value for t in inst.targets_copy() if t.is_qubit_target]
        if name in _FLIPS:
            pending.update(dict.fromkeys(qubits, args[0]))
        elif name == "DEPOLARIZE2" or name == "PAULI_CHANNEL_2":
            two_qubit.append(sum(args))
        elif stim.gate_data(name).produces_measurements:
            measure += [args[0] if args else pending.get(q, 0.0) for q in qubits]
            pending = {}
        elif not stim.gate_data(name).is_noisy_gate:    # a gate between flip and measurement
            pending = {}
    if not measure or not two_qubit or np.median(two_qubit) <= 0:
        return None
    ratio = float(np.median(measure) / np.median(two_qubit))
    if ratio <= 0:
        return None
    best = min(_MEASURE_OVER_2Q, key=lambda n: abs(np.log(ratio / _MEASURE_OVER_2Q[n])))
    return best if abs(np.log(ratio / _MEASURE_OVER_2Q[best])) <= np.log(tolerance) else None


def _check_strength(p: float, upper: float = 0.5) -> None:
    if not (isinstance(p, (int, float)) and 0.0 < p < upper):
        raise InputError(f"p={p} must be in (0, {upper})")


class _Decorator:
    """Walks a circuit (recursing into REPEAT blocks) and inserts noise."""

    def __init__(self, model: NoiseModel, circuit: stim.Circuit) -> None:
        self.m = model
        self.circuit = circuit
        self.all_qubits = sorted(range(circuit.num_qubits))
        mr = {t.value for inst in circuit.flattened() if inst.name in _MEASURE_RESET
              for t in inst.targets_copy()}
        self.data = [q for q in self.all_qubits if q not in mr]
        n = circuit.num_qubits
        mult = model.qubit_multipliers
        if mult is not None and len(mult) < n:
            raise InputError(f"qubit_multipliers has {len(mult)} entries; "
                             f"the circuit has {n} qubits")
        self.mult = np.ones(n) if mult is None else np.asarray(mult[:n], dtype=float)

    def run(self) -> stim.Circuit:
        out, _ = self._block(self.circuit, after_measure=True)
        return out

    def _block(self, block: stim.Circuit, after_measure: bool) -> tuple[stim.Circuit, bool]:
        out, moment = stim.Circuit(), []
        for inst in block:
            if isinstance(inst, stim.CircuitRepeatBlock):
                after_measure = self._flush(out, moment, after_measure)
                moment = []
                body, after_measure = self._block(inst.body_copy(), after_measure)
                out.append(stim.CircuitRepeatBlock(inst.repeat_count, body))
            elif inst.name == "TICK":
                after_measure = self._flush(out, moment, after_measure)
                moment = []
                out.append(inst)
            else:
                moment.append(inst)
        after_measure = self._flush(out, moment, after_measure)
        return out, after_measure

    def _flush(self, out: stim.Circuit, moment: list, after_measure: bool) -> bool:
        """Emit one moment with its noise; return whether it measured or reset."""
        names = {inst.name for inst in moment}
        is_gate2 = bool(names & _GATES_2Q)
        is_gate = is_gate2 or bool(names & _GATES_1Q)
        is_mr = bool(names & ({*_RESET, *_MEASURE, *_MEASURE_RESET}))
        # Terminal reads (M/MX with no reset in the moment) end the experiment: qubits idle
        # then are never measured again, so idle noise there would only bloat the circuit.
        resets = bool(names & ({*_RESET, *_MEASURE_RESET}))
        if is_gate and after_measure:
            self._pauli1(out, self.data, self.m.data_round_start)
        touched: set[int] = set()
        for inst in moment:
            self._emit(out, inst, touched)
        idle = [q for q in self.all_qubits if q not in touched]
        if is_gate:
            self._pauli1(out, idle, self.m.idle if is_gate2 else self.m.idle_gate1)
        elif resets:
            self._pauli1(out, idle, self.m.idle_measure)
        return is_mr if (is_gate or is_mr) else after_measure

    def _emit(self, out: stim.Circuit, inst: stim.CircuitInstruction, touched: set) -> None:
        qubits = [t.value for t in inst.targets_copy() if t.is_qubit_target]
        touched.update(qubits)
        name = inst.name
        if name in _MEASURE or name in _MEASURE_RESET:
            flip = _MEASURE.get(name) or _MEASURE_RESET[name]
            self._flip(out, flip, qubits, self.m.measure_flip)
        out.append(inst)
        if name in _RESET or name in _MEASURE_RESET:
            flip = _RESET.get(name) or _MEASURE_RESET[name]
            self._flip(out, flip, qubits, self.m.reset_flip)
        elif name in _GATES_1Q:
            self._pauli1(out, qubits, self.m.gate1)
        elif name in _GATES_2Q:
            self._pauli2(out, qubits, self.m.cnot)

    def _groups(self, factors: np.ndarray, items: list) -> dict[float, list]:
        groups: dict[float, list] = {}
        for f, item in zip(factors.tolist(), items):
            groups.setdefault(f, []).append(item)
        return groups

    def _flip(self, out: stim.Circuit, gate: str, qubits: list[int], prob: float) -> None:
        if prob <= 0 or not qubits:
            return
        for f, qs in self._groups(self.mult[qubits], qubits).items():
            out.append(gate, qs, _scaled_prob(prob * f, gate, qs))

    def _pauli1(self, out: stim.Circuit, qubits: list[int], probs: tuple) -> None:
        if not qubits or sum(probs) <= 0:
            return
        for f, qs in self._groups(self.mult[qubits], qubits).items():
            _append_channel(out, "PAULI_CHANNEL_1", "DEPOLARIZE1", qs,
                            _scaled_channel(probs, f, qs))

    def _pauli2(self, out: stim.Circuit, qubits: list[int], probs: tuple) -> None:
        if not qubits or sum(probs) <= 0:
            return
        pairs = [(qubits[k], qubits[k + 1]) for k in range(0, len(qubits), 2)]
        factors = np.array([(self.mult[a] + self.mult[b]) / 2 for a, b in pairs])
        for f, ps in self._groups(factors, pairs).items():
            flat = [q for pair in ps for q in pair]
            _append_channel(out, "PAULI_CHANNEL_2", "DEPOLARIZE2", flat,
                            _scaled_channel(probs, f, flat))


def _append_channel(
    out: stim.Circuit, pauli_gate: str, depolarize_gate: str, targets: list, probs: list[float]
) -> None:
    # Equal Pauli weights are emitted as DEPOLARIZE, which stim's error analysis takes
    # exactly; PAULI_CHANNEL needs approximate_disjoint_errors (see qec.dem).
    if max(probs) == min(probs):
        out.append(depolarize_gate, targets, sum(probs))
    else:
        out.append(pauli_gate, targets, probs)


def _scaled_prob(prob: float, gate: str, qubits: list[int]) -> float:
    if prob > 1:
        raise InputError(f"{gate} probability {prob:.4g} on qubits {qubits[:4]} exceeds 1 "
                         "after qubit_multipliers; lower p or the multipliers")
    return prob


def _scaled_channel(probs: tuple, factor: float, qubits: list[int]) -> list[float]:
    scaled = [p * factor for p in probs]
    if sum(scaled) > 1:
        raise InputError(f"Pauli channel sums to {sum(scaled):.4g} on qubits {qubits[:4]} after "
                         "qubit_multipliers; it must be <= 1")
    return scaled
