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


def _synthetic_rows(rng, rounds=(3, 5, 7, 9), shots=4000):
    """Rows as evaluate_rounds makes them, from random per-shot masks, and the masks."""
    from bench.device_model import _rows

    rows, masks = [], {}
    for r in rounds:
        base = rng.random(shots) < (1 - 0.9 * 0.92 ** r) / 2
        wrong = {"google:correlated_matching": base,
                 "pymatching-correlated": base ^ (rng.random(shots) < 0.02),
                 "soft:m": base ^ (rng.random(shots) < 0.03)}
        masks[r] = wrong
        rows += _rows(wrong, rounds=r, half="odd", models={"m": "m.safetensors"})
    return rows, masks


def test_cycle_summary_fits_and_pools_the_same_shots():
    import pytest

    from bench.device_model import cycle_summary
    from qec import InputError, PairedCounts, fit_error_per_cycle

    rows, masks = _synthetic_rows(np.random.default_rng(7))
    summary = cycle_summary(rows)
    rounds = sorted(masks)
    for d in ("soft:m", "pymatching-correlated", "google:correlated_matching"):
        expect = fit_error_per_cycle(rounds, [int(masks[r][d].sum()) for r in rounds],
                                     [masks[r][d].size for r in rounds])
        assert summary["fits"][d] == expect.to_json()
    pooled = {(p["a"], p["b"]): p for p in summary["pooled"]}
    direct = PairedCounts.of("soft:m", np.concatenate([masks[r]["soft:m"] for r in rounds]),
                             "google:correlated_matching",
                             np.concatenate([masks[r]["google:correlated_matching"]
                                             for r in rounds]))
    assert pooled["soft:m", "google:correlated_matching"] == direct.to_json()
    # a decoder on other shots at one round count, or missing there: no comparison
    broken = [dict(r, shots=r["shots"] - 1) if (r["rounds"], r["decoder"]) == (
        5, "google:correlated_matching") else r for r in rows]
    with pytest.raises(InputError, match="same shots"):
        cycle_summary(broken)
    with pytest.raises(InputError, match="same shots"):
        cycle_summary([r for r in rows if (r["rounds"], r["decoder"]) != (7, "soft:m")])
