import numpy as np
import pytest
import stim

from qec import NoiseModel, memory_circuit


def _dem_by_coords(circuit: stim.Circuit) -> dict:
    """DEM mechanisms keyed by detector coordinates (independent of qubit numbering)."""
    coords = circuit.get_detector_coordinates()
    dem = circuit.detector_error_model(decompose_errors=False)
    out: dict = {}
    for inst in dem.flattened():
        if inst.type != "error":
            continue
        ts = inst.targets_copy()
        key = (tuple(sorted(tuple(coords[t.val]) for t in ts if t.is_relative_detector_id())),
               tuple(sorted(t.val for t in ts if t.is_logical_observable_id())))
        p, q = inst.args_copy()[0], out.get(key, 0.0)
        out[key] = p + q - 2 * p * q
    return out


@pytest.mark.parametrize("basis", ["X", "Z"])
def test_stim_noise_reproduces_stim_generated_dem_exactly(basis):
    knobs = dict(after_clifford_depolarization=0.001, before_round_data_depolarization=0.002,
                 before_measure_flip_probability=0.003, after_reset_flip_probability=0.004)
    ref = stim.Circuit.generated(f"surface_code:rotated_memory_{basis.lower()}",
                                 distance=5, rounds=4, **knobs)
    ours = NoiseModel.stim(0.001, **knobs).apply(memory_circuit(distance=5, rounds=4, basis=basis))
    a, b = _dem_by_coords(ref), _dem_by_coords(ours)
    assert a.keys() == b.keys()
    assert max(abs(a[k] - b[k]) for k in a) < 1e-12


def test_fingerprints_stable_and_distinct():
    models = [NoiseModel.uniform(0.003), NoiseModel.si1000(0.003), NoiseModel.stim(0.003),
              NoiseModel.uniform(0.004),
              NoiseModel.uniform(0.003).with_random_multipliers(49, seed=1),
              NoiseModel.uniform(0.003).with_random_multipliers(49, seed=2)]
    prints = [m.fingerprint for m in models]
    assert len(set(prints)) == len(prints)
    assert NoiseModel.uniform(0.003).fingerprint == prints[0]  # stable across constructions
    # A fixed value guards against accidental changes of the fingerprint's definition.
    assert NoiseModel.uniform(0.003).fingerprint == "fe7268aecf40863d"


def _count_noise(circuit: stim.Circuit) -> dict:
    counts: dict = {}
    for inst in circuit.flattened():
        if inst.name in ("DEPOLARIZE1", "DEPOLARIZE2", "PAULI_CHANNEL_1", "PAULI_CHANNEL_2",
                         "X_ERROR", "Z_ERROR"):
            key = (inst.name, round(sum(inst.gate_args_copy()), 12))
            n = len(inst.targets_copy()) // (2 if inst.name.endswith("2") else 1)
            counts[key] = counts.get(key, 0) + n
    return counts


def test_uniform_places_noise_per_the_paper_convention():
    p, d = 0.003, 3
    clean = memory_circuit(distance=d, rounds=2, basis="X")
    counts = _count_noise(NoiseModel.uniform(p).apply(clean))
    num_cx = sum(len(i.targets_copy()) // 2 for i in clean.flattened() if i.name == "CX")
    assert counts[("DEPOLARIZE2", p)] == num_cx
    # Idle in CNOT layers: 4 layers x 17 qubits minus the qubits each layer touches.
    idle = 4 * 17 * 2 - 2 * num_cx
    assert counts[("DEPOLARIZE1", p)] == idle
    # Data idle through the two measure/reset windows: two depolarizing steps each.
    assert counts[("DEPOLARIZE1", round(3 * (2 * p / 3 - 4 * p * p / 9), 12))] == 9 * 2
    flips = counts[("X_ERROR", round(2 * p / 3, 12))] + counts[("Z_ERROR", round(2 * p / 3, 12))]
    assert flips == 17 + 9 + 2 * 2 * 8  # resets + final data reads + 2 x (MR measure + reset)
    assert not any(name == "PAULI_CHANNEL_1" for name, _ in counts)  # H layers stay noiseless


def test_multipliers_scale_probabilities_per_qubit():
    clean = memory_circuit(distance=3, rounds=1, basis="Z")
    mult = np.ones(clean.num_qubits)
    mult[0] = 2.0
    noisy = NoiseModel.uniform(0.003).with_qubit_multipliers(mult).apply(clean)
    resets = [i for i in noisy.flattened() if i.name == "X_ERROR" and 0 in
              [t.value for t in i.targets_copy()]]
    assert resets and all(abs(i.gate_args_copy()[0] - 0.004) < 1e-15 for i in resets)


@pytest.mark.parametrize("make,match", [
    (lambda: NoiseModel.uniform(0.6), r"p=0.6 must be in \(0, 0.5\)"),
    (lambda: NoiseModel.si1000(0.2), r"p=0.2 must be in \(0, 0.1\)"),
    (lambda: NoiseModel.named("bogus", 0.001), r"noise='bogus' is unknown"),
    (lambda: NoiseModel(cnot=(0.1,) * 15), r"cnot sums to 1.5"),
    (lambda: NoiseModel(measure_flip=-0.1), r"measure_flip=-0.1 must be a probability"),
    (lambda: NoiseModel.uniform(0.4).with_qubit_multipliers([3.0] * 17).apply(
        memory_circuit(distance=3, rounds=1, basis="X")), r"exceeds 1|must be <= 1"),
])
def test_bad_noise_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
