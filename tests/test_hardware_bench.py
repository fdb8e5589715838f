"""``python -m bench hardware --quick``: the repository's slice of Google's data through every
row of the hardware table, files written with the data's attribution."""

from __future__ import annotations

import json

import pytest

from bench import __main__ as bench_main
from bench import hardware

LABELS = {"google: pymatching", "google: correlated_matching", "google: belief_matching",
          "google: tensor_network_contraction", "pymatching / circuit DEM",
          "pymatching / pij DEM", "pymatching / learned DEM",
          "pymatching-correlated / circuit DEM", "pymatching-correlated / pij DEM",
          "pymatching-correlated / learned DEM", "hard (small)", "soft (small)"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert bench_main.main(["hardware", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "hardware_quick.json").read_text())


@pytest.mark.slow
def test_quick_run_has_every_row_on_every_experiment_of_the_slice(quick):
    out, data = quick
    by_exp: dict = {}
    for r in data["rows"]:
        by_exp.setdefault(r["experiment"], set()).add(r["label"])
    assert len(by_exp) == 5
    for name, labels in by_exp.items():  # no pre-decoder on one round (its DEM cannot orient it)
        one_round = "_r01_" in name
        assert labels == (LABELS - {"hard (small)", "soft (small)"} if one_round else LABELS)
    for r in data["rows"]:
        assert r["shots"] in (hardware.QUICK_SHOTS, hardware.QUICK_PREDECODER_SHOTS)
        assert r["ler_low"] <= r["ler"] <= r["ler_high"]
    for suffix in (".md", ".png", ".png.meta.json", "_readme.md"):
        assert (out / f"hardware_quick{suffix}").is_file()
    assert "doi:10.5281/zenodo.6804040" in (out / "hardware_quick.md").read_text()
    assert "CC BY 4.0" in data["attribution"] and data["meta"]["git_commit"] is not None


@pytest.mark.slow
def test_pymatching_on_the_circuit_dem_matches_googles_file_and_the_reference_row_is_null(quick):
    _, data = quick
    d5 = {r["label"]: r for r in data["rows"] if r["distance"] == 5}
    assert d5["pymatching / circuit DEM"]["errors"] == d5["google: pymatching"]["errors"]
    ref = d5["google: correlated_matching"]
    assert (ref["only_this_wrong"], ref["only_reference_wrong"]) == (0, 0)


@pytest.mark.slow
def test_the_patch_with_two_fitted_round_counts_gets_an_error_per_cycle(quick):
    _, data = quick
    fits = {(s["patch"], s["label"]): s["fit"] for s in data["summary"]}
    fit = fits[("d=3 X center 3_5", "google: correlated_matching")]
    assert fit["rounds"] == [3, 5] and 0 < fit["eps_low"] <= fit["eps"] <= fit["eps_high"] < 0.5
    assert fits[("d=5 X center 5_5", "google: correlated_matching")] is None   # one round count


def test_the_suite_is_registered_and_needs_a_data_dir_without_quick(capsys):
    assert bench_main.load_suite("hardware") is hardware.main
    assert bench_main.main(["hardware"]) == 2
    assert "DATA_DIR" in capsys.readouterr().err
