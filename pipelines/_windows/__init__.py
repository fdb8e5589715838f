"""Parallel-window decoding of long memory experiments: plan, slices, graphs, worker."""
