"""bench device-model on the committed slice of Google's data: the same held-out shots for
every decoder, Google's files read right (PyMatching on Google's circuit DEM reproduces
Google's PyMatching predictions exactly), McNemar against correlated PyMatching."""

import json
from pathlib import Path

import numpy as np

from bench.device_model import main

GOOGLE = Path(__file__).parent / "data" / "google_qec3v5"


def test_device_model_rows_on_the_held_out_half(tmp_path):
    out = tmp_path / "device"
    assert main(["--data", str(GOOGLE), "--rounds", "5", "--max-shots", "300",
                 "--out", str(out)]) == 0
    rows = {r["decoder"]: r for r in json.loads(out.with_suffix(".json").read_text())["rows"]}
    assert {"pymatching", "pymatching-correlated", "soft:small", "google:correlated_matching",
            "google:tensor_network_contraction"} <= set(rows)
    assert {r["shots"] for r in rows.values()} == {300}
    # the odd shots 1, 3, ..., 599 of Google's own prediction file, counted here directly
    exp = GOOGLE / "surface_code_bX_d5_r05_center_5_5"
    actual = np.array((exp / "obs_flips_actual.01").read_text().split())[1:600:2]
    google_pm = np.array((exp / "obs_flips_predicted_by_pymatching.01").read_text().split())
    assert rows["google:pymatching"]["errors"] == int((google_pm[1:600:2] != actual).sum())
    assert rows["pymatching"]["errors"] == rows["google:pymatching"]["errors"]
    soft = rows["soft:small"]
    vs = soft["vs pymatching-correlated"]
    assert vs["only_this"] - vs["only_other"] == soft["errors"] - rows[
        "pymatching-correlated"]["errors"]
    assert 0 < soft["ler_low"] <= soft["ler"] <= soft["ler_high"] < 0.3
    assert "soft:small" in out.with_suffix(".md").read_text()
