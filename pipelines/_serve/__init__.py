"""The decoding service on Ray Serve (see ``pipelines._serve.app``)."""
