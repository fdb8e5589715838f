"""pipelines: composition and execution -- decoder pipelines, runs, the ``qecpipe`` CLI."""

from pipelines.decoders import DECODER_NAMES, make_decoder
from pipelines.ray_service import RayPool
from pipelines.run import RunResult, run_task
from pipelines.sinter_plugin import sinter_decoders
from pipelines.stream import RoundSource, StreamConfig, StreamResult, StreamService, run_stream
from pipelines.windows import PredecoderPrepass, WindowedDecoder, WindowPlan, WindowWorker

__all__ = ["DECODER_NAMES", "PredecoderPrepass", "RayPool", "RoundSource", "RunResult",
           "StreamConfig", "StreamResult", "StreamService", "WindowPlan", "WindowWorker",
           "WindowedDecoder", "make_decoder", "run_stream", "run_task", "sinter_decoders"]
__version__ = "0.1.0"
