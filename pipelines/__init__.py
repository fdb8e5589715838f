"""pipelines: composition and execution -- decoder pipelines, runs, the ``qecpipe`` CLI."""

from pipelines.decoders import DECODER_NAMES, make_decoder
from pipelines.run import RunResult, run_task
from pipelines.sinter_plugin import sinter_decoders

__all__ = ["DECODER_NAMES", "RunResult", "make_decoder", "run_task", "sinter_decoders"]
__version__ = "0.1.0"
