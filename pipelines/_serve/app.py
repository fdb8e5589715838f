"""The decoding service as a Ray Serve application: ingress -> pre-decoder -> matcher.

Three deployments. ``Ingress`` (the HTTP entry and the Python handle's target) checks each
request against the wire contract (:mod:`pipelines._serve.wire`), sends its events to the
``Predecoder`` deployment (GPU replicas, ``num_gpus=1``, when the cluster has GPUs; else CPU
replicas) whose ``@serve.batch`` method stacks concurrent requests into one forward pass, and
passes that call's result straight on to the ``Matcher`` deployment (CPU replicas): Serve
hands the pre-decoder's output to the matcher without it coming back through the ingress.
Without the pre-decoder (mode ``pymatching``) the ingress calls the matcher alone.

Faults: when a replica dies under a request, the ingress sends the request again (Serve
replaces the replica meanwhile; a resend that Serve still routes to the dead replica fails at
once and is sent again, for up to ``RETRY_WINDOW_S``) and marks the response ``retried``; the
client gets exactly one answer per request, and a 503 with one line if no replica took it.
Any other error in a request is a 4xx/5xx with one line; the replica goes on.

Exactly once: the ingress (one replica) keeps a :class:`pipelines._serve.ledger.Ledger` of the
blocks it answered per client; a block re-sent by its client (after a broken connection, a
proxy or ingress restart, a timeout) is answered from the ledger, never decoded twice, and
``GET /ledger`` (or ``handle.ledger.remote(client)``) reports the counts.
``GET /health`` reports readiness, the task and its fingerprint, the model and the versions.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from ray import serve

from pipelines._serve.config import ServeConfig
from pipelines._serve.ledger import Ledger, block_digest
from pipelines._serve.stages import PreOutput, ServiceMatcher, ServicePredecoder
from pipelines._serve.wire import DecodeRequest, DecodeResponse, WireError
from qec import InputError

log = logging.getLogger(__name__)
APP_NAME = "qecpipe"
MAX_BODY_BYTES = 64 << 20
RETRY_WINDOW_S = 30.0


class PredecoderReplica:
    """A ``Predecoder`` replica: one :class:`ServicePredecoder` on this replica's device."""

    def __init__(self, config: ServeConfig) -> None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.stage = ServicePredecoder(config, device=device)
        self.run.set_max_batch_size(config.max_batch)
        self.run.set_batch_wait_timeout_s(config.batch_wait_ms / 1000)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)   # sizes: set per replica
    async def run(self, batch: list[np.ndarray]) -> list[PreOutput]:
        return self.stage.run(batch)


class MatcherReplica:
    """A ``Matcher`` replica: one :class:`ServiceMatcher`."""

    def __init__(self, config: ServeConfig) -> None:
        self.stage = ServiceMatcher(config)

    def decode(self, dets_or_pre, with_residual: bool = False):
        """Events (no pre-decoder) or a :class:`PreOutput` -> (predictions, timings µs,
        the syndrome the matcher decoded if ``with_residual`` else None). Without a
        pre-decoder that syndrome is the events themselves."""
        start = time.perf_counter()
        if isinstance(dets_or_pre, PreOutput):
            residual = dets_or_pre.residual
            flips = self.stage.decode(residual, dets_or_pre.weights)
            pred, timings = flips ^ dets_or_pre.flip, {"predecoder": dets_or_pre.seconds * 1e6}
        else:
            residual = dets_or_pre
            pred, timings = self.stage.decode(dets_or_pre), {}
        timings["matcher"] = (time.perf_counter() - start) * 1e6
        return pred, timings, residual if with_residual else None


class IngressReplica:
    """The entry: HTTP (``POST /decode``, ``GET /health``, ``GET /ledger``) and
    ``handle.decode.remote(dict)`` / ``handle.ledger.remote(client)``."""

    def __init__(self, config: ServeConfig, predecoder, matcher) -> None:
        self.config, self.predecoder, self.matcher = config, predecoder, matcher
        self.info = health_info(config)
        # per request these are compared, never rebuilt (a fingerprint hashes the whole task)
        self.fingerprint, self.num_detectors = self.info["fingerprint"], self.info["num_detectors"]
        self.ledger_book = Ledger(max_blocks=config.ledger_blocks,
                                  max_bytes=config.ledger_mb << 20)

    async def __call__(self, request):
        from starlette.responses import JSONResponse

        path = request.url.path.rstrip("/") or "/"
        if path in ("/health", "/ledger") and request.method == "GET":
            if path == "/ledger":
                client = request.query_params.get("client")
                return JSONResponse(self.ledger(client))
            return JSONResponse({"ready": True, **self.info})
        if path != "/decode":
            return JSONResponse({"error": f"no route {request.method} {path}; use POST "
                                          "/decode, GET /health or GET /ledger"},
                                status_code=404)
        if request.method != "POST":
            return JSONResponse({"error": "/decode takes POST"}, status_code=405)
        status, payload = await read_json(request)
        if status != 200:
            return JSONResponse(payload, status_code=status)
        status, body = await self.answer(payload)
        return JSONResponse(body, status_code=status)

    async def decode(self, payload: dict) -> dict:
        """The Python handle's entry: the same payload as over HTTP; a refusal raises
        :class:`WireError` (its ``status`` says which)."""
        status, body = await self.answer(payload)
        if status != 200:
            raise WireError(status, body["error"])
        return body

    def ledger(self, client: str | None = None) -> dict:
        """The ledger's counts: of one ``client``, or all of them with the totals."""
        if client is None:
            return self.ledger_book.report()
        return {"client": client, **self.ledger_book.counts(client)}

    async def answer(self, payload) -> tuple[int, dict]:
        start = time.perf_counter()
        try:
            req = DecodeRequest.from_json(payload, fingerprint=self.fingerprint,
                                          num_detectors=self.num_detectors,
                                          max_shots=self.config.max_shots)
        except WireError as exc:
            return exc.status, {"error": str(exc)}
        return await self.ledger_book.answer(req.client, req.block_id, block_digest(payload),
                                             lambda: self._decoded(req, start))

    async def _decoded(self, req: DecodeRequest, start: float) -> tuple[int, dict]:
        """Decode one checked request (once: the ledger calls this)."""
        try:
            (pred, timings, residual), retried = await self._stages(req.dets,
                                                                   req.return_residual)
        except _Unavailable as exc:
            return 503, {"error": str(exc)}
        except InputError as exc:
            return 400, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 -- one request's bug must not kill the replica
            log.exception("decoding block %s failed", req.block_id)
            return 500, {"error": f"internal error: {type(exc).__name__}: {exc}"[:300]}
        timings["service"] = (time.perf_counter() - start) * 1e6
        return 200, DecodeResponse(req.block_id, pred, timings, retried, residual).to_json()

    async def _stages(self, dets: np.ndarray, with_residual: bool):
        """Run the stages; if a replica died under the call, run it again (once it reaches a
        live replica: until then Serve may still route to the dead one, which fails at once)
        for up to :data:`RETRY_WINDOW_S`."""
        import asyncio

        deadline, wait, retried = time.monotonic() + RETRY_WINDOW_S, 0.25, False
        while True:
            try:
                if self.predecoder is None:
                    return await self.matcher.decode.remote(dets, with_residual), retried
                pre = self.predecoder.run.remote(dets)
                return await self.matcher.decode.remote(pre, with_residual), retried
            except Exception as exc:  # noqa: BLE001 -- sorted below
                if not _replica_lost(exc):
                    raise
                if time.monotonic() > deadline:
                    raise _Unavailable(f"no live replica took this request within "
                                       f"{RETRY_WINDOW_S:g} s after one died under it "
                                       f"({type(exc).__name__}); try again") from None
                if not retried:
                    log.warning("a replica died under a request (%s); running it again",
                                type(exc).__name__)
                retried = True
                await asyncio.sleep(wait)
                wait = min(2 * wait, 2.0)


class _Unavailable(Exception):
    pass


async def read_json(request) -> tuple[int, object]:
    """(200, the parsed body) or (status, {"error": one line}): a body over
    :data:`MAX_BODY_BYTES` is refused while it is read (413; a chunked body says no length up
    front), one that is not JSON or nests too deep is a 400."""
    import json

    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY_BYTES:
        return 413, {"error": f"body of {size} bytes is over {MAX_BODY_BYTES}"}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return 413, {"error": f"body is over {MAX_BODY_BYTES} bytes (refused while "
                                  "reading it)"}
    try:
        return 200, json.loads(body)
    except RecursionError:
        return 400, {"error": "the body nests JSON too deeply to be a request"}
    except ValueError as exc:
        return 400, {"error": f"the body is not JSON ({exc})"}


def _replica_lost(exc: BaseException) -> bool:
    """The call failed because the replica serving it went away (not because of the
    request): worth one more try on another replica."""
    from ray.exceptions import ObjectRefStreamEndOfStreamError, RayActorError, WorkerCrashedError
    from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

    # a replica that dies mid-call ends Serve's result stream early
    return isinstance(exc, (RayActorError, WorkerCrashedError, ObjectRefStreamEndOfStreamError,
                            ReplicaUnavailableError, DeploymentUnavailableError))


def health_info(config: ServeConfig) -> dict:
    """What ``GET /health`` reports besides readiness."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    model = None
    if config.uses_predecoder:
        from predecoder import load_model

        loaded = load_model(config.model)
        model = {"name": loaded.path.name, "policy": loaded.policy(config.mode).describe(),
                 "noise_family": loaded.noise_family}
    from dataclasses import asdict

    task = config.task()
    return {"task": task.metadata(), "noise_model": asdict(task.noise),
            "fingerprint": task.fingerprint, "mode": config.mode,
            "model": model, "num_detectors": task.circuit().num_detectors,
            "num_observables": task.circuit().num_observables,
            "windows": {"n_com": config.n_com, "n_buf": config.n_buf} if config.windowed
            else None, "max_shots": config.max_shots,
            "versions": {name: ver(name) for name in ("qecpipe", "stim", "pymatching", "torch",
                                                       "ray")}}


def build_app(config: ServeConfig):
    """The Serve application for ``config`` (bind it with ``serve.run``)."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0
    matcher = serve.deployment(MatcherReplica, name="Matcher").options(
        ray_actor_options={"num_cpus": 1}, **_scaling(config.matcher_replicas, config))
    pre = None
    if config.uses_predecoder:
        pre = serve.deployment(PredecoderReplica, name="Predecoder").options(
            ray_actor_options={"num_gpus": 1} if gpus else {"num_cpus": 0},
            **_scaling(config.predecoder_replicas, config))
    # one ingress replica: the ledger of answered blocks lives in its memory
    ingress = serve.deployment(IngressReplica, name="Ingress").options(
        ray_actor_options={"num_cpus": 0}, num_replicas=1)
    return ingress.bind(config, pre.bind(config) if pre is not None else None,
                        matcher.bind(config))


def _scaling(replicas: int, config: ServeConfig) -> dict:
    if not config.max_replicas:
        return {"num_replicas": replicas}
    return {"autoscaling_config": {"min_replicas": replicas,
                                   "max_replicas": config.max_replicas,
                                   "target_ongoing_requests": 2}}
