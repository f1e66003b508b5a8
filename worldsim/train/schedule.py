"""The learning-rate schedule both training loops use, and the DiT's EMA decay."""

from __future__ import annotations

import math


def warmup_cosine(step: int, lr: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``lr * min_ratio`` at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def short_run_warmup(warmup: int, steps: int) -> int:
    """The warm-up a run of ``steps`` steps uses: ``warmup``, but at most a tenth of the run (and at least 100
    steps or ``warmup``, whichever is less), so that a short run does not spend itself warming up."""
    return max(1, min(warmup, max(steps // 10, 100)))


def ema_decay_at(decay: float, steps_done: int) -> float:
    """The weight EMA's decay after ``steps_done`` steps of this run (a warm start counts from its own first step):
    ``decay``, or ``(1 + n) / (10 + n)`` while that is lower, so that a short run's model is not its initial weights."""
    return min(decay, (1 + steps_done) / (10 + steps_done))
