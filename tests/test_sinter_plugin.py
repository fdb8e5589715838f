"""The sinter plugin: qecpipe decoders collected by sinter.collect and by `sinter collect`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sinter
import stim

from pipelines import DECODER_NAMES, sinter_decoders
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS, mode_of
from pipelines._decoders.sinter_plugin import SinterDecoder
from qec import Geometry, NoiseModel, Task, pack_bits, sample_detectors

SINTER_CLI = Path(sys.executable).with_name("sinter")
PREDECODER_NAMES = PREDECODER_DECODERS


@pytest.fixture(scope="module")
def task() -> Task:
    return Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.005))


def _all_decoders() -> dict[str, sinter.Decoder]:
    """The plugin's decoders plus our pymatching under a new name, so the adapter is always
    exercised end to end even before the pre-decoder is registered."""
    return {**sinter_decoders(), "qecpipe-pymatching": SinterDecoder(name="pymatching")}


def test_offers_every_registered_decoder_sinter_lacks():
    offered = sinter_decoders()
    assert set(offered) == {n for n in DECODER_NAMES if n not in sinter.BUILT_IN_DECODERS}
    for name in PREDECODER_NAMES:
        if name in DECODER_NAMES:
            assert name in offered, f"{name} is registered but sinter cannot build it from a DEM"
    assert not set(offered) & set(sinter.BUILT_IN_DECODERS)
    with pytest.raises(ValueError, match=r"name='nope' is not a qecpipe decoder"):
        SinterDecoder(name="nope")


def test_adapter_predicts_exactly_what_sinters_pymatching_predicts(task):
    dem = task.dem()
    chunk = next(sample_detectors(task.circuit(), shots=2000, seed=3))
    ours = SinterDecoder(name="pymatching").compile_decoder_for_dem(dem=dem)
    theirs = sinter.BUILT_IN_DECODERS["pymatching"].compile_decoder_for_dem(dem=dem)
    got = ours.decode_shots_bit_packed(bit_packed_detection_event_data=chunk.dets)
    want = theirs.decode_shots_bit_packed(bit_packed_detection_event_data=chunk.dets)
    assert got.dtype == np.uint8 and got.shape == (2000, 1)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got != chunk.obs) > 0  # real errors, not an all-zero answer


def test_sinter_collect_with_two_workers(task):
    decoders = _all_decoders()
    stats = sinter.collect(
        num_workers=2, tasks=[sinter.Task(circuit=task.circuit(), json_metadata={"d": 3})],
        decoders=list(decoders), custom_decoders=decoders, max_shots=4000, max_errors=10**6)
    by_name = {s.decoder: s for s in stats}
    assert set(by_name) == set(decoders)
    for s in by_name.values():
        assert s.shots == 4000
        # d=3, p=0.005: about 3.4% of shots fail with matching (sd 0.3% at 4000 shots);
        # a broken decoder, or one that mixes up detectors, sits far above.
        assert 0.01 < s.errors / s.shots < 0.08, (s.decoder, s.errors)


def test_sinter_cli_loads_the_plugin(tmp_path, task):
    circuit_path = tmp_path / "d=3,p=0.005.stim"
    task.circuit().to_file(str(circuit_path))
    # The documented module function, plus our pymatching under a new name from a helper
    # module, so decoding goes through the plugin even before the pre-decoder is registered.
    (tmp_path / "plugin_for_test.py").write_text(textwrap.dedent("""
        from pipelines._decoders.sinter_plugin import SinterDecoder

        def decoders():
            return {"qecpipe-pymatching": SinterDecoder(name="pymatching")}
    """))
    csv_path = tmp_path / "stats.csv"
    names = list(_all_decoders())
    result = subprocess.run(
        [str(SINTER_CLI), "collect", "--circuits", str(circuit_path), "--decoders", *names,
         "--custom_decoders_module_function", "pipelines:sinter_decoders",
         "plugin_for_test:decoders",
         "--max_shots", "1000", "--max_errors", "1000000", "--processes", "2", "--quiet",
         "--metadata_func", "auto", "--save_resume_filepath", str(csv_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)})  # the console script's path lacks cwd
    assert result.returncode == 0, result.stderr[-2000:]
    stats = sinter.read_stats_from_csv_files(csv_path)
    assert {s.decoder for s in stats} == set(names)
    assert all(s.shots == 1000 and 0 < s.errors < 150 for s in stats)
    assert all(s.json_metadata == {"d": 3, "p": 0.005} for s in stats)


@pytest.mark.parametrize("distance, basis", [(3, "Z"), (5, "X")])
def test_geometry_from_dem_matches_the_circuits(distance, basis):
    """sinter hands decoders only the DEM: its detector coordinates give the same layout."""
    t = Task(distance=distance, rounds=4, basis=basis, noise=NoiseModel.si1000(0.002))
    want, got = Geometry.from_circuit(t.circuit()), Geometry.from_dem(t.dem())
    assert (got.shape, got.basis, got.distance) == (want.shape, want.basis, want.distance)
    for field in ("det_round", "det_row", "det_col", "det_basis", "index", "x_present",
                  "z_present"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


def test_geometry_from_dem_rejects_a_dem_without_the_layout():
    with pytest.raises(ValueError, match=r"DETECTOR\(x, y, t\) coordinates"):
        Geometry.from_dem(stim.DetectorErrorModel("error(0.1) D0 L0\nerror(0.1) D0 D1"))
    with pytest.raises(ValueError, match=r"not a rotated surface-code layout"):
        Geometry.from_dem(stim.DetectorErrorModel("detector(0, 0, 0) D0\ndetector(4, 2, 0) D1"))


@pytest.mark.parametrize("name", [n for n in PREDECODER_NAMES if n in DECODER_NAMES])
def test_predecoder_built_from_the_dem_alone_predicts_like_the_task_built_one(name):
    """What sinter builds (layout from DEM coordinates) is the pipeline `qecpipe run` builds."""
    from pipelines import PredecoderPipeline

    task = Task(distance=5, rounds=5, noise=NoiseModel.uniform(0.006))
    chunk = next(sample_detectors(task.circuit(), shots=1000, seed=4))
    compiled = sinter_decoders()[name].compile_decoder_for_dem(dem=task.dem())
    got = compiled.decode_shots_bit_packed(bit_packed_detection_event_data=chunk.dets)
    reference = PredecoderPipeline.from_task(task, correlated=name.endswith("-correlated"),
                                             mode=mode_of(name))
    np.testing.assert_array_equal(got, reference.decode_batch(chunk.dets))
    residual = pack_bits(reference.predecode(chunk.dets).residual.numpy())
    assert (residual != chunk.dets).any()  # the pre-decoder did commit edges on these shots


def test_model_choice_reaches_the_workers_decoder(tmp_path):
    with pytest.raises(ValueError, match=r"model='nope\.safetensors' must be a shipped model"):
        SinterDecoder(name=PREDECODER_NAMES[0], model="nope.safetensors"
                      ).compile_decoder_for_dem(dem=Task(distance=3, noise=NoiseModel.uniform(
                          0.001)).dem())
    with pytest.raises(TypeError, match=r"must be a preset name or a path string"):
        SinterDecoder(name="pymatching", model=3)
    assert {d.model for d in sinter_decoders(model=tmp_path / "w.safetensors").values()} == {
        str(tmp_path / "w.safetensors")}


# --- qecpipe's CSV rows against sinter's own: strong_id, combine, plot -----------------------

QECPIPE = Path(sys.executable).with_name("qecpipe")


def _qecpipe(*argv: str, cwd: Path) -> None:
    proc = subprocess.run([str(QECPIPE), *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _sinter(*argv: str, cwd: Path) -> str:
    proc = subprocess.run([str(SINTER_CLI), *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_strong_id_is_sinters_for_the_circuit_file_and_metadata(tmp_path):
    """`qecpipe run --out` and sinter, on the circuit `qecpipe circuit` writes, with the
    metadata read back from qecpipe's CSV: the same strong_id, and `sinter combine` merges
    the two files into one row."""
    task = ("--distance", "3", "--noise", "si1000", "--p", "0.004", "--multipliers-seed", "2")
    _qecpipe("circuit", *task, "--out", "c.stim", cwd=tmp_path)
    _qecpipe("run", *task, "--decoder", "pymatching", "--max-shots", "1000", "--seed", "5",
             "--weights", "uniform", "--out", "ours.csv", cwd=tmp_path)
    (ours,) = sinter.read_stats_from_csv_files(tmp_path / "ours.csv")
    assert ours.json_metadata["weights"] == "uniform" and ours.json_metadata["d"] == 3
    circuit = stim.Circuit.from_file(str(tmp_path / "c.stim"))
    (theirs,) = sinter.collect(num_workers=1, max_shots=500, decoders=["pymatching"],
                               tasks=[sinter.Task(circuit=circuit,
                                                  json_metadata=ours.json_metadata)])
    assert theirs.strong_id == ours.strong_id
    _sinter("collect", "--circuits", "c.stim", "--decoders", "pymatching", "--max_shots",
            "700", "--processes", "1", "--quiet", "--metadata_func", repr(ours.json_metadata),
            "--save_resume_filepath", "theirs.csv", cwd=tmp_path)
    combined = tmp_path / "combined.csv"
    combined.write_text(_sinter("combine", "ours.csv", "theirs.csv", cwd=tmp_path))
    (row,) = sinter.read_stats_from_csv_files(combined)
    assert row.shots == 1700 and row.strong_id == ours.strong_id


def test_one_sinter_plot_draws_one_curve_per_decoder_from_both_files(tmp_path):
    """sinter's own plot, over a qecpipe CSV and a `sinter collect --metadata_func auto` CSV,
    with the README's --x_func m.p --group_func decoder: one curve per decoder, the matcher's
    curve holding the points of both files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for p in ("0.005", "0.01"):
        _qecpipe("circuit", "--distance", "3", "--p", p, "--out", f"d=3,p={p}.stim", cwd=tmp_path)
        _qecpipe("run", "--distance", "3", "--p", p, "--decoder", "pymatching-correlated",
                 "--max-shots", "500", "--seed", "1", "--out", "stats.csv", cwd=tmp_path)
    _sinter("collect", "--circuits", "d=3,p=0.005.stim", "d=3,p=0.01.stim", "--decoders",
            "pymatching", "--metadata_func", "auto", "--max_shots", "500", "--processes", "1",
            "--quiet", "--save_resume_filepath", "collected.csv", cwd=tmp_path)
    stats = sinter.read_stats_from_csv_files(tmp_path / "collected.csv", tmp_path / "stats.csv")
    fig, ax = plt.subplots()
    # sinter users' keys: p and d read the same from both files
    sinter.plot_error_rate(ax=ax, stats=stats, x_func=lambda s: s.json_metadata["p"],
                           group_func=lambda s: f"{s.decoder} d={s.json_metadata['d']}")
    handles, labels = ax.get_legend_handles_labels()
    assert sorted(labels) == ["pymatching d=3", "pymatching-correlated d=3"]
    xs = {label: sorted(h.get_xdata()) for h, label in zip(handles, labels)}
    assert xs == {"pymatching d=3": [0.005, 0.01], "pymatching-correlated d=3": [0.005, 0.01]}
    plt.close(fig)
    _sinter("plot", "--in", "collected.csv", "stats.csv", "--x_func", "m.p", "--group_func",
            "decoder", "--xaxis", "[log]physical error rate p", "--out", "ler.png", cwd=tmp_path)
    assert (tmp_path / "ler.png").stat().st_size > 1000


def test_the_readme_names_every_decoder_sinter_decoders_returns():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    prose = readme.split("## Using qecpipe from sinter")[1].split("```")[0]
    offered = sinter_decoders()
    assert set(offered) <= set(re.findall(r"`([\w+-]+)`", prose))
    count = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}[len(offered)]
    assert f"returns the {count} qecpipe decoders that sinter lacks" in " ".join(prose.split())
