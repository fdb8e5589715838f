"""bench: the benchmark suite behind the README.

Run ``python -m bench all|baseline|predecoder|noise|streaming [--quick]`` from the repository root;
each script writes bench/results/ (sinter CSV for LER data, JSON, PNG) with provenance from
:func:`bench._meta.run_metadata`.
"""
