"""Evaluation: speed benchmarks (and, later, fidelity against the real world and policy scores)."""
