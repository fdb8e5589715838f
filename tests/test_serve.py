"""The decoding service: wire contract, stages, `qecpipe serve` end to end, a replica kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipelines import PredecoderPipeline, WindowedDecoder
from pipelines._serve.config import ServeConfig
from pipelines._serve.stages import ServiceMatcher, ServicePredecoder
from pipelines._serve.wire import DecodeRequest, DecodeResponse, WireError, encode_bits
from qec import NoiseModel, Task, pack_bits, sample_detectors, unpack_bits

NOISE = NoiseModel.uniform(0.01)


def _shots(task: Task, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=shots))
    return (unpack_bits(chunk.dets, task.circuit().num_detectors),
            unpack_bits(chunk.obs, task.circuit().num_observables))


# --- the wire contract -------------------------------------------------------------------

def _parse(payload, **kw):
    base = {"fingerprint": "f" * 16, "num_detectors": 24, "max_shots": 8}
    return DecodeRequest.from_json(payload, **{**base, **kw})


def test_a_request_round_trips_and_bits_keep_stims_layout():
    dets = np.random.default_rng(1).random((3, 24)) < 0.3
    req = DecodeRequest("f" * 16, "b7", dets)
    back = _parse(json.loads(json.dumps(req.to_json())))
    assert back.block_id == "b7" and np.array_equal(back.dets, dets)
    import base64

    raw = base64.b64decode(req.to_json()["dets"])
    assert raw == pack_bits(dets).tobytes()           # stim's bit_packed rows, in shot order
    resp = DecodeResponse("b7", dets[:, :1], {"matcher": 1.0})
    assert np.array_equal(DecodeResponse.from_json(resp.to_json()).predictions, dets[:, :1])


@pytest.mark.parametrize("payload, status, match", [
    ([], 400, "must be a JSON object"),
    ({"fingerprint": "f" * 16}, 400, "lacks block_id, shots, dets"),
    ({"fingerprint": "0" * 16, "block_id": 1, "shots": 1, "dets": ""}, 409,
     "is not this service's task ffff"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 0, "dets": ""}, 400,
     "shots=0 must be an integer >= 1"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 9, "dets": ""}, 413, "split the block"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 1, "dets": "@@"}, 400,
     "not valid base64"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 2, "dets": encode_bits(
        np.zeros((1, 24), bool))}, 400, "holds 3 bytes; 2 shots of 24 bits"),
    ({"fingerprint": "f" * 16, "block_id": [1], "shots": 1, "dets": ""}, 400,
     "block_id=.* must be a string or integer"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 1, "dets": encode_bits(
        np.zeros((1, 24), bool)), "return_residual": "yes"}, 400, "must be true or false"),
])
def test_malformed_requests_are_refused_with_a_status_and_one_line(payload, status, match):
    with pytest.raises(WireError, match=match) as info:
        _parse(payload)
    assert info.value.status == status and "\n" not in str(info.value)


# --- the stages equal the in-process decoders ----------------------------------------------

@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_service_stages_equal_the_whole_volume_pipeline(mode):
    cfg = ServeConfig(distance=3, rounds=3, noise=NOISE, mode=mode)
    dets, _ = _shots(cfg.task(), 300, seed=3)
    pre, matcher = ServicePredecoder(cfg), ServiceMatcher(cfg)
    outs = pre.run([dets[:100], dets[100:]])       # two requests, one forward pass
    pred = np.concatenate([matcher.decode(o.residual, o.weights) ^ o.flip for o in outs])
    expected = PredecoderPipeline.from_task(cfg.task(), mode=mode).decode_batch(pack_bits(dets))
    assert np.array_equal(pred, unpack_bits(expected, 1))
    assert pred.any()                               # the shots do have logical flips


def test_windowed_service_stages_equal_the_windowed_decoder():
    from pipelines import BlockPredecoder
    from predecoder import load_model

    cfg = ServeConfig(distance=3, rounds=20, noise=NOISE, mode="soft", n_com=3, n_buf=3)
    dets, _ = _shots(cfg.task(), 64, seed=4)
    out = ServicePredecoder(cfg).run([dets])[0]
    pred = ServiceMatcher(cfg).decode(out.residual, out.weights) ^ out.flip
    loaded = load_model(None)
    blocks = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy("soft"),
                             block_slices=3)
    offline = WindowedDecoder.for_task(cfg.task(), n_com=3, n_buf=3, predecoder=blocks)
    assert np.array_equal(pred, unpack_bits(offline.decode_batch(pack_bits(dets)), 1))


# --- qecpipe serve, end to end -------------------------------------------------------------

def _ray_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "ray::|raylet|gcs_server|ray/dashboard|ray/_private"],
                         capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_qecpipe_serve_answers_like_in_process_refuses_bad_requests_and_stops_clean(
        tmp_path, free_port):
    from pipelines import ServiceClient

    port, before = free_port, _ray_pids()
    qecpipe = Path(sys.executable).parent / "qecpipe"
    pid_file = tmp_path / "serve.pid"
    proc = subprocess.Popen([str(qecpipe), "serve", "--distance", "3", "--p", "0.01",
                             "--mode", "soft", "--port", str(port), "--pid-file",
                             str(pid_file)], stderr=subprocess.PIPE, text=True)
    try:
        client = ServiceClient(f"http://127.0.0.1:{port}", timeout_s=60)
        deadline = time.monotonic() + 180
        while not pid_file.exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.5)
        health = client.health()
        task = client.task()
        assert health["ready"] and health["fingerprint"] == task.fingerprint
        assert health["model"]["name"] == "small.safetensors" and health["mode"] == "soft"
        dets, _ = _shots(task, 200, seed=5)
        expected = unpack_bits(PredecoderPipeline.from_task(task, mode="soft").decode_batch(
            pack_bits(dets)), 1)
        assert np.array_equal(client.decode(dets[:120], block_id="a"), expected[:120])
        answer = client.decode_response(dets[:50], block_id="r", return_residual=True)
        corr = PredecoderPipeline.from_task(task, mode="soft").predecode(pack_bits(dets[:50]))
        assert np.array_equal(answer.residual, corr.residual.numpy())   # what the matcher saw
        assert client.decode_response(dets[:50], block_id="s").residual is None
        body = DecodeRequest(task.fingerprint, "raw", dets[120:]).to_json()
        status, answer = _post(f"{client.url}/decode", json.dumps(body).encode())
        assert status == 200 and answer["block_id"] == "raw"
        assert np.array_equal(DecodeResponse.from_json(answer).predictions, expected[120:])
        status, answer = _post(f"{client.url}/decode", b"{not json")
        assert status == 400 and "not JSON" in answer["error"]
        wrong = Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.02)).fingerprint
        status, answer = _post(f"{client.url}/decode", json.dumps(
            {**body, "fingerprint": wrong}).encode())
        assert status == 409 and "is not this service's task" in answer["error"]
        assert client.health()["ready"]               # the replicas went on serving
        stop = subprocess.run([str(qecpipe), "serve", "--stop", "--port", str(port),
                               "--pid-file", str(pid_file)], capture_output=True, text=True,
                              timeout=180)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=60) == 0
        assert not pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while _ray_pids() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_pids() - before, "Ray processes left behind by qecpipe serve"


def test_serve_stop_without_a_running_service_says_so(tmp_path, capsys):
    from pipelines import main

    rc = main(["serve", "--stop", "--port", "1", "--pid-file", str(tmp_path / "none.pid")])
    assert rc == 2 and "no running service recorded there" in capsys.readouterr().err


# --- a replica killed under load -----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.ray
def test_a_replica_killed_during_a_load_test_answers_every_block_once(ray_local, free_port):
    """The matcher replica is killed while requests are in flight: Serve replaces it, the
    ingress sends the lost requests again, and every block gets exactly one answer, each the
    in-process decoder's."""
    import threading

    from ray import serve

    from pipelines._serve.app import APP_NAME, build_app
    from pipelines._serve.loadtest import LoadConfig, run_loadtest

    cfg = ServeConfig(distance=5, rounds=5, noise=NoiseModel.uniform(0.006), mode="soft",
                      port=free_port)
    serve.start(http_options={"host": cfg.host, "port": cfg.port})
    try:
        serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
        load = LoadConfig(url=cfg.url, blocks=40, shots=256, clients=2, concurrency=2, seed=9)
        box: dict = {}
        runner = threading.Thread(target=lambda: box.setdefault("r", run_loadtest(load)))
        runner.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            time.sleep(3.0)     # let requests reach the matcher
            victim = next((a["name"] for a in ray_local.util.list_named_actors(
                all_namespaces=True) if "#Matcher#" in a["name"]), None)
        ray_local.kill(ray_local.get_actor(victim, namespace="serve"), no_restart=True)
        runner.join(timeout=600)
        result = box["r"]
    finally:
        serve.shutdown()
    acc = result.accounting()
    assert acc == {**acc, "answered": 40, "answered_twice": 0, "missing": 0, "failed": 0}
    assert acc["retried_in_service"] >= 1           # the kill did hit requests in flight
    task = cfg.task()
    pipeline = PredecoderPipeline.from_task(task, mode="soft")
    chunks = sample_detectors(task.circuit(), shots=40 * 256, seed=9, chunk_shots=256)
    expected = [unpack_bits(pipeline.decode_batch(c.dets), 1) for c in chunks]
    for record in result.records:
        assert np.array_equal(record.predictions, expected[record.block])


def test_loadtest_against_nothing_is_refused_in_one_line(capsys, free_port):
    from pipelines import main

    rc = main(["loadtest", "--url", f"http://127.0.0.1:{free_port}", "--blocks", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"qecpipe: error: --url='http://127.0.0.1:{free_port}': ")
    assert "does not answer" in err and "--wait-s waits longer" in err
    assert os.environ.get("RAY_ADDRESS") is None


def test_serving_on_every_interface_is_said_before_anything_starts(free_port, caplog):
    """--host 0.0.0.0 is allowed (a cluster's clients are elsewhere) but never silent: Serve's
    HTTP has no authentication. The --address that is not this process's Ray (or, without
    one, a dead address) ends the run right after the warning."""
    import logging

    from pipelines import main

    with caplog.at_level(logging.WARNING, logger="pipelines._command.serve"):
        rc = main(["serve", "--distance", "3", "--host", "0.0.0.0", "--port", str(free_port),
                   "--address", "127.0.0.1:1"])
    assert rc == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"--host 0.0.0.0: the HTTP ingress has no authentication and listens on every "
        f"interface; firewall port {free_port} to the machines that may send blocks"]

