"""The in-process stream: ordering, backpressure, boundary validation, metrics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines import InProcessPool, RoundSource, StreamConfig, StreamService, main, run_stream
from qec import NoiseModel

NOISE = NoiseModel.uniform(0.004)


def _config(**kw) -> StreamConfig:
    base = dict(distance=3, rounds=40, noise=NOISE, shots=16, cycle_us=0.0)
    return StreamConfig(**{**base, **kw})


class ShufflingPool(InProcessPool):
    """Holds results back and returns them newest first: out-of-order completion."""

    def __init__(self, worker, *, hold: int) -> None:
        super().__init__(worker)
        self.hold, self.max_seen = hold, 0

    def wait(self, timeout):
        self.max_seen = max(self.max_seen, len(self._done))
        if len(self._done) < self.hold and timeout is not None and timeout < 0.05:
            return []  # keep holding while the service is not draining
        done, self._done = self._done[::-1], []
        return done


def test_stream_equals_offline_windowed_decoding():
    cfg = _config()
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=2, cycle_us=0.0)
    result = run_stream(cfg, source=source)
    svc = StreamService(config=cfg)
    offline = svc.worker.decode_all(source.dets)
    assert result.windows_committed == len(cfg.plan().windows)
    assert result.errors == int(np.any(offline != source.obs, axis=1).sum())
    assert np.array_equal(result.predictions, offline)          # shot by shot, not only counts
    assert len(result.window_latency) == result.windows_committed
    assert all(lat >= 0 for lat in result.window_latency)
    assert result.backlog[-1][1] == 0 and result.max_backlog_rounds == cfg.rounds + 1


def test_out_of_order_results_commit_in_order_and_backlog_is_bounded_by_in_flight():
    cfg = _config(max_in_flight=3)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=3, cycle_us=0.0)
    svc = StreamService(config=cfg)
    svc.pool = pool = ShufflingPool(svc.worker, hold=3)
    svc.open("s", shots=cfg.shots)
    commits = []
    orig = svc.streams["s"].complete

    def spy(result, now):
        done = orig(result, now)
        commits.extend(done)
        return done

    svc.streams["s"].complete = spy
    for t, dets in source:
        svc.push("s", t, dets)
        svc.poll(0.0)
    svc.drain()
    assert commits == list(range(len(cfg.plan().windows)))  # each once, in time order
    assert pool.max_seen <= cfg.in_flight_limit  # bounded in-flight work
    assert np.array_equal(svc.prediction("s"), svc.worker.decode_all(source.dets))
    backlog = [b for _, b in svc.backlog["s"]]
    assert max(backlog) > cfg.backlog_bound  # decoding was held back: the backlog grew
    assert backlog[-1] == 0


def test_malformed_rounds_are_rejected_and_other_streams_go_on():
    cfg = _config()
    source = RoundSource.from_task(cfg.task(), shots=4, seed=4, cycle_us=0.0)
    svc = StreamService(config=cfg)
    svc.open("good", shots=4)
    svc.open("bad", shots=4)
    size0 = source.slice(0).shape[1]
    with pytest.raises(TypeError, match=r"slice 0 has dtype float32; expected bool or uint8"):
        svc.push("bad", 0, np.zeros((4, size0), dtype=np.float32))
    with pytest.raises(ValueError, match=rf"slice 0 has shape \(4, {size0 + 1}\)"):
        svc.push("bad", 0, np.zeros((4, size0 + 1), dtype=bool))
    with pytest.raises(ValueError, match=r"slice 0 has 3 shots; the stream has 4"):
        svc.push("bad", 0, np.zeros((3, size0), dtype=bool))
    with pytest.raises(ValueError, match=r"slice t=5 arrived out of order; expected t=0"):
        svc.push("bad", 5, source.slice(5))
    with pytest.raises(TypeError, match=r"must be a numpy array, got list"):
        svc.push("bad", 0, [[0] * size0] * 4)
    with pytest.raises(ValueError, match=r"stream_id='nope' is not open"):
        svc.push("nope", 0, source.slice(0))
    svc.push("bad", 0, source.slice(0).astype(np.uint8))  # the bad stream may retry
    for t, dets in source:
        svc.push("good", t, dets)
    svc.drain()
    assert np.array_equal(svc.prediction("good"), svc.worker.decode_all(source.dets))
    with pytest.raises(ValueError, match=r"stream_id='bad' has committed 0 of"):
        svc.prediction("bad")


def test_stream_config_validation():
    with pytest.raises(ValueError, match=r"cycle_us=-1 must be a number >= 0"):
        _config(cycle_us=-1)
    with pytest.raises(ValueError, match=r"shots=0 must be an integer >= 1"):
        _config(shots=0)
    with pytest.raises(ValueError, match=r"distance=4 must be an odd integer >= 3"):
        _config(distance=4)
    assert _config().plan().n_com == 3 and _config(n_buf=2).plan().n_buf == 2


def test_paced_stream_keeps_up_when_the_cycle_is_slow():
    cfg = _config(rounds=30, shots=2, cycle_us=3000.0)
    result = run_stream(cfg)
    assert result.kept_up and result.max_backlog_rounds <= cfg.backlog_bound
    assert result.seconds >= 30 * 3000e-6  # it waited for the source
    j = result.to_json()
    # N_par (docs/design.md §4): 2 T_dec / (T_cycle (n_com + n_buf)), rounded up.
    expected = int(np.ceil(2 * result.mean_decode_seconds / (3000e-6 * 6)))
    assert j["n_par"] == expected == 1


def test_round_source_file_roundtrip(tmp_path):
    cfg = _config(rounds=10)
    src = RoundSource.from_task(cfg.task(), shots=5, seed=1, cycle_us=0.0)
    src.save(tmp_path / "r.npz")
    back = RoundSource.from_file(tmp_path / "r.npz", task=cfg.task(), cycle_us=2.0)
    assert np.array_equal(back.dets, src.dets) and np.array_equal(back.obs, src.obs)
    assert back.due(3) == pytest.approx(6e-6)


def test_cli_stream_json_in_process(capsys, tmp_path):
    rc = main(["stream", "--distance", "3", "--rounds", "30", "--workers", "0", "--shots",
               "8", "--cycle-us", "0", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("task", "workers", "rounds", "cycle_us", "rounds_per_second",
                "window_latency_us_p50", "window_latency_us_p99", "kept_up",
                "max_backlog_rounds", "windows_committed", "decoders", "per_worker"):
        assert key in out, key
    assert out["workers"] == 0 and out["task"]["distance"] == 3
    assert out["windows_committed"] == len(_config(rounds=30).plan().windows)
    assert out["decoders"]["windowed-pymatching"]["shots"] == 8
    src = RoundSource.from_task(_config(rounds=30).task(), shots=3, seed=9, cycle_us=0)
    src.save(tmp_path / "in.npz")
    assert main(["stream", "--distance", "3", "--rounds", "30", "--workers", "0",
                 "--input", str(tmp_path / "in.npz"), "--cycle-us", "0"]) == 0
    assert "kept up" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_cli_stream_with_the_predecoder(capsys, tmp_path, mode):
    torch = pytest.importorskip("torch")
    from predecoder import ModelConfig, PreDecoderNet, save_weights

    torch.manual_seed(1)
    net = PreDecoderNet(ModelConfig(widths=(4,))).eval()
    save_weights(tmp_path / "hard.safetensors", net, threshold=0.0, rule="supported")
    save_weights(tmp_path / "both.safetensors", net, threshold=0.0, soft_cap=8.0)
    argv = ["stream", "--distance", "3", "--rounds", "20", "--workers", "0", "--shots", "4",
            "--cycle-us", "0", "--mode", mode, "--json", "--predecoder"]
    rc = main([*argv, str(tmp_path / "both.safetensors")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    name = "soft-matching" if mode == "soft" else "pymatching"
    assert list(out["decoders"]) == [f"windowed-predecoder+{name}"]
    assert out["predecoder"]["model"]["name"].endswith("both.safetensors")
    assert out["predecoder"]["model"]["file"] == "both.safetensors"
    assert out["predecoder"]["mode"] == mode and out["sdr"] != 1.0  # the residual changed
    rc = main([*argv, str(tmp_path / "hard.safetensors")])
    err = capsys.readouterr().err
    if mode == "soft":   # a hard-only model file cannot run in soft mode: one clear line
        assert rc == 2 and err.count("\n") == 1 and "no soft-mode metadata" in err
    else:
        assert rc == 0
