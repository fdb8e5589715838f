"""qecpipe learn-noise and qecpipe run --weights: round trips and one-line errors."""

import json

import numpy as np

from noise import NoiseStructure, clamp_probabilities, estimate_noise, load_noise_weights
from pipelines import main
from qec import NoiseModel, Task, sample_detectors
from qec.sample_io import write_sample_file


def test_learn_noise_simulate_round_trip_and_run_with_the_file(tmp_path, capsys):
    out = tmp_path / "w.json"
    code = main(["learn-noise", "--simulate", "uniform", "--distance", "3", "--p", "0.01",
                 "--shots", "20000", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shots"] == 20000 and summary["num_detectors"] == 24
    obj = json.loads(out.read_text())
    assert obj["method"] == "mechanisms" and obj["num_detectors"] == 24
    assert len(obj["edges"]) == len(obj["edge_prob"]) == summary["num_edges"]
    assert obj["structure_fingerprint"] == NoiseStructure.from_task(
        Task(distance=3, noise=NoiseModel.uniform(0.01))).fingerprint
    # The estimate of the common bulk edges is about right (p = 0.01 uniform noise).
    assert 0.003 < np.median(obj["edge_prob"]) < 0.03

    matchers = ["--decoder", "pymatching", "--decoder", "pymatching-correlated", "--seed", "1"]
    code = main(["run", "--distance", "3", "--p", "0.01", "--max-shots", "3000", "--json",
                 *matchers, "--weights", str(out)])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["weights"] == str(out)
    base = main(["run", "--distance", "3", "--p", "0.01", "--max-shots", "3000", "--json",
                 *matchers])
    true = json.loads(capsys.readouterr().out)
    assert base == 0
    for name in ("pymatching", "pymatching-correlated"):
        learned, exact = res["decoders"][name]["errors"], true["decoders"][name]["errors"]
        assert abs(learned - exact) <= 0.25 * exact + 10  # same shots, similar decoding

    code = main(["run", "--distance", "5", "--max-shots", "100", *matchers, "--weights", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "has 24 detectors" in err[0] and "has 120 and 1" in err[0]


def test_learn_noise_from_sample_and_circuit_files_equals_library(tmp_path, capsys):
    task = Task(distance=3, noise=NoiseModel.si1000(0.005))
    circuit_path = tmp_path / "c.stim"
    task.circuit().to_file(str(circuit_path))
    dets = np.concatenate([c.dets for c in sample_detectors(task.circuit(), shots=5000, seed=4)])
    samples = tmp_path / "d.b8"
    write_sample_file(samples, format="b8", dets_bit_packed=dets, num_detectors=24)
    out = tmp_path / "w.json"
    assert main(["learn-noise", "--samples", str(samples), "--circuit", str(circuit_path),
                 "--out", str(out)]) == 0
    assert "learned" in capsys.readouterr().out
    got = load_noise_weights(out)
    want = estimate_noise([dets], structure=NoiseStructure.from_circuit(task.circuit()))
    # The file holds the library's estimates clamped into (0, 1/2) (noise/weights_file.py).
    np.testing.assert_array_equal(got.edge_prob, clamp_probabilities(want.edge_prob))
    np.testing.assert_array_equal(got.pair_prob, clamp_probabilities(want.pair_prob))
    np.testing.assert_array_equal(got.mechanism_prob, clamp_probabilities(want.mechanism_prob))
    assert got.shots == 5000 and got.source["format"] == "b8"


def test_samples_with_another_detector_count_are_refused(tmp_path, capsys):
    small = Task(distance=3, noise=NoiseModel.uniform(0.01))
    dets = next(sample_detectors(small.circuit(), shots=3001, seed=1)).dets
    samples = tmp_path / "d.b8"
    write_sample_file(samples, format="b8", dets_bit_packed=dets, num_detectors=24)
    big = Task(distance=5, noise=NoiseModel.uniform(0.01))
    circuit_path = tmp_path / "c.stim"
    big.circuit().to_file(str(circuit_path))
    code = main(["learn-noise", "--samples", str(samples), "--circuit", str(circuit_path),
                 "--out", str(tmp_path / "w.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "d.b8" in err[0]


def test_run_weights_uniform_and_learned_and_bad_choice(capsys):
    args = ["run", "--distance", "3", "--p", "0.01", "--max-shots", "2000", "--json",
            "--decoder", "pymatching"]
    assert main([*args, "--weights", "uniform"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "uniform"
    assert main([*args, "--weights", "learned", "--learn-shots", "20000"]) == 0
    assert json.loads(capsys.readouterr().out)["decoders"]["pymatching"]["shots"] == 2000
    assert main([*args, "--weights", "guess"]) == 2
    assert "weights='guess' must be one of true, learned, uniform" in capsys.readouterr().err
