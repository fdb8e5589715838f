"""pipelines: composition and execution -- decoder pipelines, runs, the ``qecpipe`` CLI."""

from pipelines.decoders import DECODER_NAMES, make_decoder
from pipelines.predecoder_blocks import BlockPredecoder
from pipelines.ray_service import RayPool
from pipelines.run import RunResult, run_task
from pipelines.sinter_plugin import sinter_decoders
from pipelines.stream import RoundSource, StreamConfig, StreamResult, StreamService, run_stream
from pipelines.windows import WindowedDecoder, WindowPlan, WindowWorker

__all__ = ["BlockPredecoder", "DECODER_NAMES", "RayPool", "RoundSource", "RunResult",
           "StreamConfig", "StreamResult", "StreamService", "WindowPlan", "WindowWorker",
           "WindowedDecoder", "make_decoder", "run_stream", "run_task", "sinter_decoders"]
__version__ = "0.1.0"
