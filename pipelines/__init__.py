"""pipelines: composition and execution -- decoder pipelines, runs, the ``qecpipe`` CLI."""

from pipelines.decoders import DECODER_NAMES, make_decoder
from pipelines.run import RunResult, run_task

__all__ = ["DECODER_NAMES", "RunResult", "make_decoder", "run_task"]
__version__ = "0.1.0"
