"""``qecpipe decode --experiment`` and ``--weights``: Google's experiment folders read, checked
and decoded; cross-fitted learned weights; bad folders exit 2 with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import stim

from noise import NoiseStructure, estimate_noise, matching_dem, save_noise_weights
from noise.crossfit import half_indices
from noise.weights_file import NoiseWeights
from pipelines import main
from qec import (
    InputError,
    MatchingDecoder,
    NoiseModel,
    Task,
    circuit_dem,
    read_sample_file,
    unpack_bits,
    write_sample_file,
)
from qec.experiment import read_dem_file, read_experiment

SLICE = Path(__file__).parent / "data" / "google_qec3v5"
D5 = SLICE / "surface_code_bX_d5_r05_center_5_5"
D3 = SLICE / "surface_code_bX_d3_r03_center_3_5"
SHOTS = 4000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A folder in the published layout from a stim-generated d=3 memory experiment, with a
    'published' PyMatching prediction file."""
    task = Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.01))
    folder = tmp_path_factory.mktemp("exp") / "surface_code_bX_d3_r03_center_0_0"
    folder.mkdir()
    circuit = task.circuit()
    circuit.to_file(str(folder / "circuit_noisy.stim"))
    dets, obs = circuit.compile_detector_sampler(seed=5).sample(
        SHOTS, separate_observables=True, bit_packed=True)
    write_sample_file(folder / "detection_events.b8", format="b8", dets_bit_packed=dets,
                      num_detectors=circuit.num_detectors)
    write_sample_file(folder / "obs_flips_actual.01", format="01", obs_bit_packed=obs,
                      num_observables=1)
    pred = MatchingDecoder.from_dem(circuit_dem(circuit)).decode_batch(dets)
    write_sample_file(folder / "obs_flips_predicted_by_pymatching.01", format="01",
                      obs_bit_packed=pred, num_observables=1)
    return folder


def _copy(folder: Path, tmp_path: Path) -> Path:
    dest = tmp_path / folder.name
    shutil.copytree(folder, dest)
    return dest


def _decode(folder, out, *extra):
    return main(["decode", "--experiment", str(folder), "--decoder", "pymatching",
                 "--out", str(out), "--json", *extra])


def test_reads_a_folder_and_compares_with_its_prediction_file(synthetic, tmp_path, capsys):
    exp = read_experiment(synthetic)
    assert (exp.shots, exp.rounds, exp.distance, list(exp.predictions)) == (
        SHOTS, 3, 3, ["pymatching"])
    assert _decode(synthetic, tmp_path / "p.b8") == 0
    report = json.loads(capsys.readouterr().out)
    published = report["published"][0]
    # the same decoder as the 'published' file: same shots wrong, no discordant shot
    assert report["errors"] == published["errors"] > 0
    assert (published["only_a_wrong"], published["only_b_wrong"], published["mcnemar_p"]) == (
        0, 0, 1.0)
    assert report["ler_low"] < report["ler"] < report["ler_high"]


def test_pymatching_on_googles_circuit_reproduces_googles_pymatching_file(tmp_path, capsys):
    out = tmp_path / "p.b8"
    assert _decode(D5, out) == 0
    report = json.loads(capsys.readouterr().out)
    ours = read_sample_file(out, format="b8", num_observables=1).obs
    google = read_sample_file(D5 / "obs_flips_predicted_by_pymatching.01", format="01",
                              num_observables=1).obs
    assert np.array_equal(ours, google)                       # shot for shot
    row = next(r for r in report["published"] if r["decoder"] == "pymatching")
    assert (row["only_a_wrong"], row["only_b_wrong"]) == (0, 0)
    assert {r["decoder"] for r in report["published"]} == {
        "pymatching", "correlated_matching", "belief_matching", "tensor_network_contraction"}


def test_pij_weights_decode_each_half_with_the_dem_fitted_on_the_other(tmp_path, capsys):
    out = tmp_path / "p.b8"
    assert main(["decode", "--experiment", str(D3), "--decoder", "pymatching-correlated",
                 "--weights", "pij", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cross_fitted"] is True
    pred = read_sample_file(out, format="b8", num_observables=1).obs
    exp = read_experiment(D3)
    for fitted_on, decoded in (("even", "odd"), ("odd", "even")):
        idx = half_indices(exp.shots, decoded)
        dec = MatchingDecoder.from_dem(exp.pij_dem(fitted_on), correlated=True)
        assert np.array_equal(pred[idx], dec.decode_batch(exp.dets[idx]))


def test_learned_weights_are_cross_fitted_by_default(synthetic, tmp_path, capsys):
    out = tmp_path / "p.b8"
    assert _decode(synthetic, out, "--weights", "learned") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["cross_fitted"], report["in_sample"]) == (True, False)
    pred = read_sample_file(out, format="b8", num_observables=1).obs
    exp = read_experiment(synthetic)
    structure = NoiseStructure.from_circuit(exp.circuit)
    for fitted_on, decoded in (("even", "odd"), ("odd", "even")):
        est = estimate_noise([exp.dets[half_indices(exp.shots, fitted_on)]], structure=structure)
        dec = MatchingDecoder.from_dem(matching_dem(est))
        idx = half_indices(exp.shots, decoded)
        assert np.array_equal(pred[idx], dec.decode_batch(exp.dets[idx]))
    # --in-sample learns on every shot, and says so
    assert _decode(synthetic, out, "--weights", "learned", "--in-sample") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["cross_fitted"], report["in_sample"]) == (False, True)


def test_a_weights_file_learned_from_the_decoded_events_is_refused(synthetic, tmp_path, capsys):
    exp = read_experiment(synthetic)
    est = estimate_noise([exp.dets], structure=NoiseStructure.from_circuit(exp.circuit))
    path = tmp_path / "w.json"
    save_noise_weights(NoiseWeights.from_estimate(est, source={
        "samples": str(synthetic / "detection_events.b8")}), path)
    assert _decode(synthetic, tmp_path / "p.b8", "--weights", str(path)) == 2
    assert "in-sample" in capsys.readouterr().err
    assert _decode(synthetic, tmp_path / "p.b8", "--weights", str(path), "--in-sample") == 0
    assert json.loads(capsys.readouterr().out)["in_sample"] is True
    # learned elsewhere: accepted as is
    save_noise_weights(NoiseWeights.from_estimate(est, source={"samples": "elsewhere.b8"}), path)
    assert _decode(synthetic, tmp_path / "p.b8", "--weights", str(path)) == 0


def test_a_dem_file_as_weights_on_the_explicit_file_flags(tmp_path, capsys):
    """--weights FILE.dem works without --experiment; the pij DEM decodes what it decodes."""
    out = tmp_path / "p.b8"
    dem_path = D3 / "pij_from_even_for_odd.dem"
    assert main(["decode", "--circuit", str(D3 / "circuit_noisy.stim"), "--dets",
                 str(D3 / "detection_events.b8"), "--obs", str(D3 / "obs_flips_actual.01"),
                 "--decoder", "pymatching", "--weights", str(dem_path), "--out", str(out),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == str(dem_path)
    exp = read_experiment(D3)
    expected = MatchingDecoder.from_dem(exp.pij_dem("even")).decode_batch(exp.dets)
    assert np.array_equal(read_sample_file(out, format="b8", num_observables=1).obs, expected)


def test_a_dem_of_another_circuit_is_refused(tmp_path):
    with pytest.raises(InputError, match="24 detectors .* but the circuit has 120"):
        read_dem_file(D3 / "pij_from_even_for_odd.dem",
                      circuit=stim.Circuit.from_file(str(D5 / "circuit_noisy.stim")))


@pytest.mark.parametrize("missing", ["circuit_noisy.stim", "detection_events.b8",
                                     "obs_flips_actual.01"])
def test_a_folder_missing_a_file_exits_2_naming_it(synthetic, tmp_path, capsys, missing):
    folder = _copy(synthetic, tmp_path)
    (folder / missing).unlink()
    assert _decode(folder, tmp_path / "p.b8") == 2
    err = capsys.readouterr().err
    assert f"lacks {missing}" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_circuit_of_another_size_than_the_events_exits_2(tmp_path, capsys):
    folder = _copy(D5, tmp_path)
    shutil.copy(D3 / "circuit_noisy.stim", folder / "circuit_noisy.stim")  # 24 detectors
    assert _decode(folder, tmp_path / "p.b8") == 2
    err = capsys.readouterr().err
    assert "circuit" in err and "Traceback" not in err and err.count("\n") == 1


def test_predictions_of_another_shot_count_exit_2(synthetic, tmp_path, capsys):
    folder = _copy(synthetic, tmp_path)
    bad = folder / "obs_flips_predicted_by_pymatching.01"
    bad.write_text("".join(bad.read_text().splitlines(keepends=True)[:-10]))
    assert _decode(folder, tmp_path / "p.b8") == 2
    err = capsys.readouterr().err
    assert f"holds {SHOTS - 10} shots but detection_events.b8 holds {SHOTS}" in err


def test_a_circuit_that_is_not_a_surface_code_memory_exits_2(synthetic, tmp_path, capsys):
    folder = _copy(synthetic, tmp_path)
    rep = stim.Circuit.generated("repetition_code:memory", distance=5, rounds=3,
                                 after_clifford_depolarization=0.01)
    assert rep.num_detectors == 16                   # the events' size: only the layout differs
    rep.to_file(str(folder / "circuit_noisy.stim"))
    assert _decode(folder, tmp_path / "p.b8") == 2
    err = capsys.readouterr().err
    assert "not a rotated surface-code memory experiment" in err and err.count("\n") == 1


def test_properties_that_disagree_with_the_files_exit_2(tmp_path, capsys):
    folder = _copy(D3, tmp_path)
    props = folder / "properties.yml"
    props.write_text(props.read_text().replace("rounds: 3", "rounds: 5"))
    assert _decode(folder, tmp_path / "p.b8") == 2
    assert "rounds: 5 but the files have 3" in capsys.readouterr().err


def test_experiment_and_the_explicit_file_flags_are_exclusive(synthetic, tmp_path, capsys):
    assert _decode(synthetic, tmp_path / "p.b8", "--circuit",
                   str(synthetic / "circuit_noisy.stim")) == 2
    assert "drop --circuit" in capsys.readouterr().err
    assert main(["decode", "--decoder", "pymatching", "--out", str(tmp_path / "p.b8")]) == 2
    assert "--experiment DIR, or --circuit" in capsys.readouterr().err


def test_pij_weights_need_an_experiment_folder_with_both_files(synthetic, tmp_path, capsys):
    assert _decode(synthetic, tmp_path / "p.b8", "--weights", "pij") == 2
    assert "pij_from_even_for_odd.dem" in capsys.readouterr().err


def test_the_slice_events_hold_googles_detection_density():
    """About 14 % of detectors fire per shot at d=5, 5 rounds (the published data's density)."""
    exp = read_experiment(D5)
    density = unpack_bits(exp.dets, exp.num_detectors).mean()
    assert 0.12 < density < 0.16


def test_a_learned_dem_gets_the_circuits_coordinates_so_the_predecoder_can_use_it():
    """Regression: a learned DEM declares its detectors without coordinates, and stim keeps a
    detector's first declaration, so appending the coordinates did nothing and the pre-decoder
    refused the DEM ('needs DETECTOR(x, y, t) coordinates')."""
    from pipelines import make_decoder_for_dem
    from qec.experiment import with_detector_coordinates

    exp = read_experiment(D3)
    est = estimate_noise([exp.dets], structure=NoiseStructure.from_circuit(exp.circuit))
    dem = with_detector_coordinates(matching_dem(est), exp.circuit)
    coords = exp.circuit.get_detector_coordinates()
    assert dem.get_detector_coordinates() == coords
    assert dem.num_detectors == exp.num_detectors and dem.num_errors == matching_dem(est).num_errors
    decoder = make_decoder_for_dem("predecoder+pymatching", dem, model="small")
    assert decoder.decode_batch(exp.dets[:64]).shape == (64, 1)
