"""`qecpipe decode` warns, as `run` does, when the pre-decoder was trained on another noise
family than the circuit's; the family is read from the circuit itself."""

from __future__ import annotations

import logging

import pytest
import stim

from pipelines import main
from qec import NOISE_NAMES, NoiseModel, Task, noise_family_of, sample_detectors
from qec import write_sample_file as write

MISMATCH = "was trained on"


@pytest.mark.parametrize("name", NOISE_NAMES)
@pytest.mark.parametrize("p", [0.001, 0.004, 0.009])
@pytest.mark.parametrize("multipliers_seed", [None, 2])
def test_noise_family_of_each_family(name, p, multipliers_seed):
    task = Task(distance=5, noise=NoiseModel.named(name, p))
    if multipliers_seed is not None:
        noise = task.noise.with_random_multipliers(task.circuit().num_qubits,
                                                   seed=multipliers_seed)
        task = Task(distance=5, noise=noise)
    assert noise_family_of(task.circuit()) == name


def test_noise_family_of_stims_generator_and_unknown_noise():
    generated = stim.Circuit.generated(
        "surface_code:rotated_memory_z", distance=5, rounds=5,
        after_clifford_depolarization=0.003, before_measure_flip_probability=0.003,
        after_reset_flip_probability=0.003, before_round_data_depolarization=0.003)
    assert noise_family_of(generated) == "stim"
    no_measure_noise = stim.Circuit.generated("surface_code:rotated_memory_z", distance=3,
                                              rounds=3, after_clifford_depolarization=0.003)
    assert noise_family_of(no_measure_noise) is None
    other = stim.Circuit.generated("surface_code:rotated_memory_z", distance=3, rounds=3,
                                   after_clifford_depolarization=0.003,
                                   before_measure_flip_probability=0.03)   # ratio 10
    assert noise_family_of(other) is None


def _decode(tmp_path, circuit: stim.Circuit, *flags: str) -> int:
    (tmp_path / "c.stim").write_text(str(circuit))
    chunk = next(sample_detectors(circuit, shots=200, seed=2))
    write(tmp_path / "d.b8", format="b8", dets_bit_packed=chunk.dets,
          num_detectors=circuit.num_detectors)
    return main(["decode", "--circuit", str(tmp_path / "c.stim"), "--dets",
                 str(tmp_path / "d.b8"), "--out", str(tmp_path / "p.b8"), *flags])


@pytest.mark.parametrize(("noise", "model", "warned"), [
    ("si1000", "small", "trained on uniform noise, not on the circuit's (--circuit c.stim) "
                        "si1000 noise"),
    ("uniform", "small-si1000", "trained on si1000 noise, not on the circuit's (--circuit "
                                "c.stim) uniform noise"),
    ("uniform", "small", None),
    ("si1000", "small-si1000", None),
])
def test_decode_warns_when_the_model_was_trained_on_other_noise(tmp_path, caplog, capsys,
                                                                noise, model, warned):
    circuit = Task(distance=3, noise=NoiseModel.named(noise, 0.003)).circuit()
    with caplog.at_level(logging.WARNING):
        assert _decode(tmp_path, circuit, "--decoder", "predecoder+soft-matching",
                       "--model", model) == 0
    mismatch = [r.getMessage() for r in caplog.records if MISMATCH in r.getMessage()]
    if warned is None:
        assert mismatch == []
    else:
        assert len(mismatch) == 1 and warned in mismatch[0]
        assert f"qecpipe train --noise {noise}" in mismatch[0]


def test_decode_of_stims_own_circuit_warns_about_stim_noise(tmp_path, caplog, capsys):
    generated = stim.Circuit.generated(
        "surface_code:rotated_memory_x", distance=3, rounds=3,
        after_clifford_depolarization=0.004, before_measure_flip_probability=0.004,
        after_reset_flip_probability=0.004, before_round_data_depolarization=0.004)
    with caplog.at_level(logging.WARNING):
        assert _decode(tmp_path, generated, "--decoder", "predecoder+soft-matching") == 0
    assert any("not on the circuit's (--circuit c.stim) stim noise" in r.getMessage()
               for r in caplog.records)


def test_decode_without_the_predecoder_never_warns_about_the_model(tmp_path, caplog, capsys):
    circuit = Task(distance=3, noise=NoiseModel.si1000(0.003)).circuit()
    with caplog.at_level(logging.WARNING):
        assert _decode(tmp_path, circuit, "--decoder", "pymatching") == 0
    assert not any(MISMATCH in r.getMessage() for r in caplog.records)
