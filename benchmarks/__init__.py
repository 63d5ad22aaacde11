"""Benchmarks: minigrad's training step against a hand-written NumPy forward+backward of the
same model (the floor for a NumPy framework) and PyTorch, measured in one run.

``python -m benchmarks --help`` (or ``python benchmarks/run.py``); see benchmarks/README.md.
"""
