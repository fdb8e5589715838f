"""``qecpipe decode``: stim's sample files in, b8 predictions and the LER out; bad files exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import stim

from pipelines import main
from qec import MatchingDecoder, NoiseModel, Task, circuit_dem

SHOTS = 3000


@pytest.fixture(scope="module")
def circuit() -> stim.Circuit:
    return Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.01)).circuit()


@pytest.fixture(scope="module")
def files(tmp_path_factory, circuit):
    """The same shots in every format: (dets path, obs path) per format."""
    out = {}
    d = tmp_path_factory.mktemp("samples")
    for fmt in ("b8", "01", "dets"):
        dets, obs = d / f"events.{fmt}", d / f"obs.{fmt}"
        circuit.compile_detector_sampler(seed=11).sample_write(
            shots=SHOTS, filepath=str(dets), format=fmt, obs_out_filepath=str(obs),
            obs_out_format=fmt)
        out[fmt] = dets, obs
    return out


def _decode(circuit_path, dets, out, *extra):
    return main(["decode", "--circuit", str(circuit_path), "--dets", str(dets),
                 "--decoder", "pymatching", "--out", str(out), *extra])


@pytest.fixture()
def circuit_path(tmp_path, circuit):
    path = tmp_path / "memory.stim"
    circuit.to_file(str(path))
    return path


@pytest.mark.parametrize("fmt", ["b8", "01", "dets"])
def test_decodes_each_format_and_reports_the_ler(tmp_path, circuit, circuit_path, files, fmt,
                                                 capsys):
    dets_path, obs_path = files[fmt]
    out = tmp_path / "pred.b8"
    assert _decode(circuit_path, dets_path, out, "--obs", str(obs_path), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    # The same decoder run directly on stim's own reading of the files.
    dets = stim.read_shot_data_file(path=str(dets_path), format=fmt, bit_packed=True,
                                    num_detectors=circuit.num_detectors)
    obs = stim.read_shot_data_file(path=str(obs_path), format=fmt, bit_packed=True,
                                   num_observables=1)
    expected = MatchingDecoder.from_dem(circuit_dem(circuit)).decode_batch(dets)
    written = stim.read_shot_data_file(path=str(out), format="b8", num_observables=1,
                                       bit_packed=True)
    np.testing.assert_array_equal(written, expected)
    errors = int(np.count_nonzero(expected != obs))
    assert 0 < errors < SHOTS // 4  # p=0.01 at d=3: a real, non-trivial error count
    assert (report["shots"], report["errors"], report["rounds"]) == (SHOTS, errors, 3)
    assert report["ler"] == pytest.approx(errors / SHOTS)
    assert report["ler_low"] < report["ler"] < report["ler_high"]


def test_human_output_and_explicit_format(tmp_path, circuit_path, files, capsys):
    dets_path, obs_path = files["01"]
    renamed = tmp_path / "events.txt"
    renamed.write_bytes(dets_path.read_bytes())
    out = tmp_path / "pred.b8"
    assert _decode(circuit_path, renamed, out, "--dets-format", "01", "--obs", str(obs_path)) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"pymatching: {SHOTS} shots decoded")
    assert " errors, LER " in line and "(3 rounds)" in line and "\n" not in line


def test_without_obs_writes_predictions_only(tmp_path, circuit_path, files, capsys):
    out = tmp_path / "pred.b8"
    assert _decode(circuit_path, files["b8"][0], out) == 0
    assert "LER" not in capsys.readouterr().out
    assert out.stat().st_size == SHOTS  # one byte per shot for one observable


def _rejected(capsys, rc, *needles):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("qecpipe: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_rejects_files_from_another_circuit(tmp_path, circuit_path, capsys):
    big = Task(distance=5, rounds=3, noise=NoiseModel.uniform(0.01)).circuit()  # 72 detectors
    out = tmp_path / "pred.b8"
    for fmt, needle in [("01", "line 1 has 72 bits, expected 24 per shot"),
                        ("dets", "out of range for 24 detectors")]:
        path = tmp_path / f"big.{fmt}"
        big.compile_detector_sampler(seed=1).sample_write(shots=50, filepath=str(path),
                                                          format=fmt)
        _rejected(capsys, _decode(circuit_path, path, out), str(path), needle,
                  "the circuit has 24 detectors")
    assert not out.exists()  # nothing ran


def test_rejects_truncated_and_corrupt_files(tmp_path, circuit_path, files, capsys):
    out = tmp_path / "pred.b8"
    truncated = tmp_path / "cut.b8"
    truncated.write_bytes(files["b8"][0].read_bytes()[:-1])
    _rejected(capsys, _decode(circuit_path, truncated, out), "cut.b8",
              f"has {3 * SHOTS - 1} bytes, not a multiple of 3 bytes per shot")
    corrupt = tmp_path / "corrupt.01"
    lines = files["01"][0].read_text().splitlines(keepends=True)
    lines[7] = lines[7][:5] + "x" + lines[7][6:]
    corrupt.write_text("".join(lines))
    _rejected(capsys, _decode(circuit_path, corrupt, out), "corrupt.01",
              "line 8 column 6 has 'x'")
    cut_01 = tmp_path / "cut.01"
    cut_01.write_text("".join(lines[:3]) + lines[3][:10])
    _rejected(capsys, _decode(circuit_path, cut_01, out), "line 4 has 10 bits, expected 24")
    assert not out.exists()


def test_rejects_mismatched_observables(tmp_path, circuit_path, files, capsys):
    out = tmp_path / "pred.b8"
    short = tmp_path / "short.01"
    short.write_text("".join(files["01"][1].read_text().splitlines(keepends=True)[:-1]))
    _rejected(capsys, _decode(circuit_path, files["b8"][0], out, "--obs", str(short)),
              f"--obs='{short}' holds {SHOTS - 1} shots but --dets=")
    wide = tmp_path / "wide.01"
    wide.write_text("01\n" * SHOTS)
    _rejected(capsys, _decode(circuit_path, files["b8"][0], out, "--obs", str(wide)),
              "wide.01: line 1 has 2 bits, expected 1", "the circuit has 1 observables")


def test_rejects_bad_arguments(tmp_path, circuit_path, files, capsys):
    out, dets = tmp_path / "pred.b8", files["b8"][0]
    _rejected(capsys, _decode(tmp_path / "missing.stim", dets, out), "missing.stim",
              "is not an existing file")
    bad = tmp_path / "bad.stim"
    bad.write_text("H 0\nCNOT 0\n")
    _rejected(capsys, _decode(bad, dets, out), "bad.stim", "is not a stim circuit")
    (tmp_path / "events.txt").write_text("0" * 24 + "\n")
    _rejected(capsys, _decode(circuit_path, tmp_path / "events.txt", out),
              "--dets: ", "events.txt", "--dets-format")
    _rejected(capsys, _decode(circuit_path, tmp_path / "none.b8", out), "none.b8",
              "is not an existing file")
    rc = main(["decode", "--circuit", str(circuit_path), "--dets", str(dets),
               "--decoder", "nope", "--out", str(out)])
    _rejected(capsys, rc, "'nope' must be one of")
    rc = main(["decode", "--circuit", str(circuit_path), "--dets", str(dets), "--dets-format",
               "r8", "--decoder", "pymatching", "--out", str(out)])
    _rejected(capsys, rc, "--dets-format", "'r8'")


@pytest.mark.parametrize("fmt", ["dets", "01"])
def test_observables_appended_to_the_detection_events(tmp_path, circuit, circuit_path, files,
                                                       fmt, capsys):
    both = tmp_path / f"both.{fmt}"
    circuit.compile_detector_sampler(seed=11).sample_write(
        shots=SHOTS, filepath=str(both), format=fmt, append_observables=True)
    out = tmp_path / "pred.b8"
    assert _decode(circuit_path, both, out, "--append-observables", "--json") == 0
    appended = json.loads(capsys.readouterr().out)
    assert _decode(circuit_path, files[fmt][0], out, "--obs", str(files[fmt][1]), "--json") == 0
    separate = json.loads(capsys.readouterr().out)  # the same seed: the same shots
    assert appended["errors"] == separate["errors"] > 0
    # Read as detectors only, the same file is too wide: the mismatch is caught.
    _rejected(capsys, _decode(circuit_path, both, out), f"both.{fmt}",
              "the circuit has 24 detectors")
    _rejected(capsys, _decode(circuit_path, both, out, "--append-observables", "--obs",
                              str(files[fmt][1])), "--obs and --append-observables")


def test_rejects_a_circuit_without_a_matching_graph(tmp_path, capsys):
    hyper = tmp_path / "hyper.stim"  # one error flips three detectors: not graphlike
    hyper.write_text("X_ERROR(0.1) 0\nM 0\nDETECTOR rec[-1]\nDETECTOR rec[-1]\n"
                     "DETECTOR rec[-1]\nOBSERVABLE_INCLUDE(0) rec[-1]\n")
    dets = tmp_path / "h.dets"
    dets.write_text("shot D0 D1 D2\n")
    out = tmp_path / "p.b8"
    _rejected(capsys, _decode(hyper, dets, out), "hyper.stim", "no matching graph",
              "Failed to decompose errors")
    assert not out.exists()


def test_predecoder_from_the_circuit_file_matches_the_task_pipeline(tmp_path, circuit,
                                                                   circuit_path, files, capsys):
    from pipelines import PredecoderPipeline

    dets_path, obs_path = files["b8"]
    out = tmp_path / "pred.b8"
    rc = main(["decode", "--circuit", str(circuit_path), "--dets", str(dets_path), "--obs",
               str(obs_path), "--decoder", "predecoder+pymatching", "--out", str(out), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    task = Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.01))  # the fixture's circuit
    dets = stim.read_shot_data_file(path=str(dets_path), format="b8", bit_packed=True,
                                    num_detectors=circuit.num_detectors)
    expected = PredecoderPipeline.from_task(task).decode_batch(dets)
    written = stim.read_shot_data_file(path=str(out), format="b8", num_observables=1,
                                       bit_packed=True)
    np.testing.assert_array_equal(written, expected)
    obs = stim.read_shot_data_file(path=str(obs_path), format="b8", num_observables=1,
                                   bit_packed=True)
    assert report["errors"] == int(np.count_nonzero(expected != obs))


def test_model_is_refused_for_a_matching_decoder(tmp_path, circuit_path, files, capsys):
    rc = _decode(circuit_path, files["b8"][0], tmp_path / "p.b8", "--model", "small")
    _rejected(capsys, rc, "--model='small' applies to the pre-decoder only")


def test_samples_of_another_basis_are_refused_unless_allowed(tmp_path, circuit_path, caplog,
                                                             capsys):
    """Z-basis samples decoded with the X-basis circuit of the same size: wrong on far more
    shots than predicting no flip (exact one-sided McNemar): refused, nothing written; with
    --allow-worse-than-no-decoding the predictions are written and a warning says why."""
    z = Task(distance=3, rounds=3, basis="Z", noise=NoiseModel.uniform(0.01)).circuit()
    dets, obs = tmp_path / "z.b8", tmp_path / "zobs.b8"
    z.compile_detector_sampler(seed=3).sample_write(
        shots=SHOTS, filepath=str(dets), format="b8", obs_out_filepath=str(obs),
        obs_out_format="b8")
    out = tmp_path / "pred.b8"
    assert _decode(circuit_path, dets, out, "--obs", str(obs)) == 2
    err = capsys.readouterr().err
    assert "significantly more than predicting no flip" in err and "McNemar p = " in err
    assert not out.exists()
    assert _decode(circuit_path, dets, out, "--obs", str(obs),
                   "--allow-worse-than-no-decoding") == 0
    assert out.exists() and "kept because of --allow-worse-than-no-decoding" in caplog.text
