"""The wire contract of the decoding service: what a request and a response carry.

Both are JSON objects (over HTTP, ``POST /decode``; through a Ray Serve handle, the same dict):

request::

    {"fingerprint": "<16 hex: qec.Task.fingerprint of the service's task>",
     "block_id": "<any string up to 128 characters, echoed back>",
     "client": "<optional: who sends, up to 128 characters; a re-sent block_id of the same
                client with the same events is answered from the service's ledger>",
     "shots": S,
     "dets": "<base64 of the (S, ceil(D / 8)) uint8 bit-packed detection events, rows in
              shot order, little-endian within a byte: stim's bit_packed layout>",
     "return_residual": false}

response::

    {"block_id": "...", "shots": S, "observables": O,
     "predictions": "<base64 of (S, ceil(O / 8)) uint8 bit-packed observable flips>",
     "timings_us": {"predecoder": ..., "matcher": ..., "service": ...},
     "retried": false,
     "replayed": false,
     "residual": "<base64, as dets; only when asked>"}

A malformed request gets HTTP 400, a wrong fingerprint 409, too many shots 413, each with
``{"error": "<one line>"}``; the replica goes on serving.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np

from qec import InputError, pack_bits, unpack_bits

MAX_BLOCK_ID = 128


class WireError(InputError):
    """A request the service refuses; ``status`` is the HTTP status code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encode_bits(bits: np.ndarray) -> str:
    """(S, n) bool -> base64 of the bit-packed bytes."""
    return base64.b64encode(pack_bits(bits).tobytes()).decode("ascii")


def decode_bits(text: object, *, rows: int, bits: int, name: str) -> np.ndarray:
    """base64 of (rows, ceil(bits / 8)) packed bytes -> (rows, bits) bool, checked."""
    if not isinstance(text, str):
        raise WireError(400, f"{name} must be a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise WireError(400, f"{name} is not valid base64 ({exc})") from None
    width = (bits + 7) // 8
    if len(raw) != rows * width:
        raise WireError(400, f"{name} holds {len(raw)} bytes; {rows} shots of {bits} bits "
                             f"bit-packed are {rows * width} bytes")
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(rows, width)
    return unpack_bits(packed, bits)


@dataclass(frozen=True)
class DecodeRequest:
    """A block of S shots of the service's task."""

    fingerprint: str
    block_id: str
    dets: np.ndarray          # (S, D) bool
    return_residual: bool = False
    client: str = ""

    def to_json(self) -> dict:
        out = {"fingerprint": self.fingerprint, "block_id": self.block_id,
               "shots": int(self.dets.shape[0]), "dets": encode_bits(self.dets),
               "return_residual": self.return_residual}
        if self.client:
            out["client"] = self.client
        return out

    @classmethod
    def from_json(cls, payload: object, *, fingerprint: str, num_detectors: int,
                  max_shots: int) -> DecodeRequest:
        """Parse and check a request against the service's task; :class:`WireError` names
        the first thing wrong."""
        if not isinstance(payload, dict):
            raise WireError(400, f"the request must be a JSON object, got "
                                 f"{type(payload).__name__}")
        missing = [k for k in ("fingerprint", "block_id", "shots", "dets") if k not in payload]
        if missing:
            raise WireError(400, f"the request lacks {', '.join(missing)}")
        block_id = payload["block_id"]
        if not isinstance(block_id, (str, int)) or isinstance(block_id, bool) or len(
                str(block_id)) > MAX_BLOCK_ID:
            raise WireError(400, f"block_id={str(block_id)[:40]!r} must be a string or integer "
                                 f"of at most {MAX_BLOCK_ID} characters")
        if payload["fingerprint"] != fingerprint:
            raise WireError(409, f"fingerprint={str(payload['fingerprint'])[:40]!r} is not this "
                                 f"service's task {fingerprint} (GET /health describes it)")
        shots = payload["shots"]
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise WireError(400, f"shots={shots!r} must be an integer >= 1")
        if shots > max_shots:
            raise WireError(413, f"shots={shots} is more than this service takes per request "
                                 f"({max_shots}); split the block")
        residual = payload.get("return_residual", False)
        if not isinstance(residual, bool):
            raise WireError(400, f"return_residual={residual!r} must be true or false")
        client = payload.get("client", "")
        if not isinstance(client, str) or len(client) > MAX_BLOCK_ID:
            raise WireError(400, f"client={str(client)[:40]!r} must be a string of at most "
                                 f"{MAX_BLOCK_ID} characters")
        dets = decode_bits(payload["dets"], rows=shots, bits=num_detectors, name="dets")
        return cls(fingerprint, str(block_id), dets, residual, client)


@dataclass(frozen=True)
class DecodeResponse:
    """The service's answer to one :class:`DecodeRequest`."""

    block_id: str
    predictions: np.ndarray   # (S, O) bool
    timings_us: dict
    retried: bool = False
    residual: np.ndarray | None = None
    replayed: bool = False

    def to_json(self) -> dict:
        out = {"block_id": self.block_id, "shots": int(self.predictions.shape[0]),
               "observables": int(self.predictions.shape[1]),
               "predictions": encode_bits(self.predictions), "timings_us": self.timings_us,
               "retried": self.retried, "replayed": self.replayed}
        if self.residual is not None:
            out["residual"] = encode_bits(self.residual)
        return out

    @classmethod
    def from_json(cls, payload: dict, *, num_detectors: int | None = None) -> DecodeResponse:
        shots, obs = int(payload["shots"]), int(payload["observables"])
        residual = None
        if "residual" in payload and num_detectors is not None:
            residual = decode_bits(payload["residual"], rows=shots, bits=num_detectors,
                                   name="residual")
        return cls(str(payload["block_id"]),
                   decode_bits(payload["predictions"], rows=shots, bits=obs,
                               name="predictions"),
                   dict(payload.get("timings_us", {})), bool(payload.get("retried", False)),
                   residual, bool(payload.get("replayed", False)))
