"""gradcli's benchmark suite: `python benchmarks/run.py` (see run.py and the README)."""
