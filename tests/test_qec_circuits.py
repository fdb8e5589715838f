import pytest
import stim

from qec import NoiseModel, memory_circuit


def _graphlike_noise(circuit: stim.Circuit) -> stim.Circuit:
    return NoiseModel.stim(0.001).apply(circuit)


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("distance", [3, 5, 7, 9, 11])
def test_circuit_distance_equals_code_distance(distance, basis):
    noisy = _graphlike_noise(memory_circuit(distance=distance, rounds=3, basis=basis))
    assert len(noisy.shortest_graphlike_error()) == distance


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("distance,rounds", [(3, 1), (3, 4), (5, 2), (7, 7)])
def test_counts_match_stim_generated(distance, rounds, basis):
    ours = memory_circuit(distance=distance, rounds=rounds, basis=basis)
    ref = stim.Circuit.generated(f"surface_code:rotated_memory_{basis.lower()}",
                                 distance=distance, rounds=rounds)
    assert ours.num_detectors == ref.num_detectors == (distance**2 - 1) * rounds
    assert ours.num_observables == ref.num_observables == 1
    # stim numbers qubits by position and leaves gaps; the qubits it USES are ours, at the
    # same coordinates: d^2 data + d^2 - 1 measure qubits.
    assert ours.num_qubits == 2 * distance**2 - 1
    used = {t.value for inst in ref.flattened() for t in inst.targets_copy() if t.is_qubit_target}
    ref_xy = ref.get_final_qubit_coordinates()
    assert sorted(tuple(ref_xy[q]) for q in used) == sorted(
        tuple(xy) for xy in ours.get_final_qubit_coordinates().values())


def test_noiseless_circuit_never_fires():
    c = memory_circuit(distance=5, rounds=3, basis="Z")
    dets, obs = c.compile_detector_sampler(seed=1).sample(64, separate_observables=True)
    assert not dets.any() and not obs.any()


@pytest.mark.parametrize("kwargs,match", [
    (dict(distance=4, rounds=3, basis="X"), r"distance=4 must be an odd integer >= 3"),
    (dict(distance=1, rounds=3, basis="X"), r"distance=1 must be an odd integer >= 3"),
    (dict(distance=3, rounds=0, basis="X"), r"rounds=0 must be an integer >= 1"),
    (dict(distance=3, rounds=3, basis="Y"), r"basis='Y' must be 'X' or 'Z'"),
])
def test_bad_arguments_name_value_and_rule(kwargs, match):
    with pytest.raises(ValueError, match=match):
        memory_circuit(**kwargs)
