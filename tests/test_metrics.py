"""The fidelity metrics and baselines of worldsim/eval/metrics.py."""

import numpy as np
import pytest


def test_best_shift_finds_the_motion_of_a_panned_picture_and_never_loses_to_copying():
    from worldsim.eval.metrics import best_shift, psnr

    rng = np.random.default_rng(0)
    world = rng.integers(0, 255, (1, 40, 48, 3), dtype=np.uint8)
    src = world[:, 4:36, 4:36]
    panned = world[:, 6:38, 1:33]  # the view moved 2 down, 3 left: the picture moved 2 up, 3 right
    moved = best_shift(src, panned, 4)
    inner = (slice(None), slice(0, 30), slice(3, 32))  # away from the edge that came into view
    assert np.array_equal(moved[inner], panned[inner])
    pair = np.concatenate([src, src]), np.concatenate([panned, rng.integers(0, 255, src.shape, dtype=np.uint8)])
    assert (psnr(best_shift(*pair, 4), pair[1]) >= psnr(pair[0], pair[1])).all()
    with pytest.raises(ValueError, match="one shape"):
        best_shift(src, panned[:, :10], 2)
