"""pipelines: composition and execution -- decoder pipelines, windowed streaming, the CLI.

The package is split by job (private subpackages; everything users call is re-exported here):

- ``_decoders``: the decoder registry, the pre-decoder pipelines (hard and soft), the
  layered consensus decoders (a referee for the shots two decoders dispute), the
  block-wise pre-decoder of long experiments, ``run_task`` and the sinter plugin;
- ``_windows``: parallel-window decoding (the plan, slice layout, window graphs, the worker);
- ``_stream``: the streaming service (config, round source, service and pools, Ray actors);
- ``_serve``: the decoding service on Ray Serve (config, wire contract, stages, the Serve
  application, the HTTP client, the load test);
- ``_command``: the ``qecpipe`` command line, one module per subcommand.

The design notes (docs/design.md) draw the package map and the allowed import directions.
"""

from pipelines._command.main import main
from pipelines._decoders.blocks import BlockPredecoder
from pipelines._decoders.consensus import (
    CONSENSUS_DECODERS,
    ConsensusDecoder,
    Perturbation,
    SoftEnsemble,
)
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS, PredecoderPipeline
from pipelines._decoders.registry import DECODER_NAMES, make_decoder, make_decoder_for_dem
from pipelines._decoders.run import RunResult, run_task
from pipelines._decoders.sinter_plugin import sinter_decoders
from pipelines._serve.client import ServiceClient, ServiceError
from pipelines._serve.config import ServeConfig
from pipelines._serve.loadtest import LoadConfig, run_loadtest
from pipelines._stream.config import StreamConfig
from pipelines._stream.pools import InProcessPool, InProcessPredecoderPool
from pipelines._stream.ray_pool import RayPool, RayPredecoderPool
from pipelines._stream.ray_session import ray_session
from pipelines._stream.result import StreamResult, run_stream
from pipelines._stream.service import StreamService
from pipelines._stream.source import RoundSource
from pipelines._windows.plan import WindowPlan
from pipelines._windows.worker import WindowedDecoder, WindowWorker
from qec import __version__

__all__ = [
    "__version__", "BlockPredecoder", "DECODER_NAMES", "InProcessPool", "InProcessPredecoderPool",
    "LoadConfig", "main", "make_decoder", "make_decoder_for_dem", "PREDECODER_DECODERS",
    "PredecoderPipeline", "ray_session", "RayPool", "RayPredecoderPool", "RoundSource",
    "run_loadtest", "run_stream", "run_task", "RunResult", "ServeConfig", "ServiceClient",
    "ServiceError", "sinter_decoders", "StreamConfig", "StreamResult", "StreamService",
    "WindowedDecoder", "WindowPlan", "WindowWorker",
    # the layered decoders
    "CONSENSUS_DECODERS", "ConsensusDecoder", "Perturbation", "SoftEnsemble",
]
