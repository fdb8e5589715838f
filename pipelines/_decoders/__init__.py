"""Decoder composition: the registry, the pre-decoder pipelines, runs and the sinter plugin."""
