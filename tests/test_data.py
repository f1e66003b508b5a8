"""Training data: windows stay inside episodes, the split is fixed, shapes are checked."""

import numpy as np
import pytest

from worldsim.data.dataset import FrameStore, resize_frames, split_episodes


def store_of(lengths) -> FrameStore:
    """Episodes of the given step counts; frame j's value is its episode id."""
    frames, starts = [], [0]
    for e, n in enumerate(lengths):
        frames.append(np.full((n + 1, 2, 2, 3), e, np.uint8))
        starts.append(starts[-1] + n + 1)
    total = starts[-1]
    return FrameStore(np.concatenate(frames), np.array(starts), np.zeros((total, 3), np.float32),
                      np.zeros(total, np.float32), np.zeros(total, bool), np.arange(len(lengths)))  # fmt: skip


def test_windows_never_cross_episode_boundaries():
    store = store_of([5, 9, 2, 7])
    starts = store.window_starts(6)
    assert len(starts) > 0
    for s in starts:
        w = store.window(s, 6)
        assert len(w["frames"]) == 6 and len(w["actions"]) == 5
        assert len(np.unique(w["frames"])) == 1  # one episode only
    # every valid window is there: episode of n steps has n+1 frames -> n+2-T windows
    assert len(starts) == sum(max(0, n + 2 - 6) for n in [5, 9, 2, 7])
    with pytest.raises(ValueError, match="no episode has 20 frames"):
        store.window_starts(20)


def test_split_is_by_episode_and_stable():
    a_train, a_eval = split_episodes(100, 0.1, seed=3)
    b_train, b_eval = split_episodes(100, 0.1, seed=3)
    assert np.array_equal(a_eval, b_eval) and len(a_eval) == 10
    assert set(a_train).isdisjoint(a_eval) and len(a_train) + len(a_eval) == 100
    assert not np.array_equal(split_episodes(100, 0.1, seed=4)[1], a_eval)
    assert len(split_episodes(2, 0.01)[1]) == 1
    with pytest.raises(ValueError):
        split_episodes(0)


def test_resize_frames():
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    assert resize_frames(frames, (32, 32)).shape == (3, 32, 32, 3)
    assert resize_frames(frames, (40, 48)).shape == (3, 40, 48, 3)
    flat = np.full((1, 8, 8, 3), 77, np.uint8)
    assert np.all(resize_frames(flat, (4, 4)) == 77)


def test_index_round_trip(tmp_path):
    store = store_of([3, 4])
    store.save_index(tmp_path / "index.npz")
    again = FrameStore.with_index(store.frames, tmp_path / "index.npz")
    assert np.array_equal(again.ep_start, store.ep_start)
    with pytest.raises(ValueError, match="describes"):
        FrameStore.with_index(store.frames[:-1], tmp_path / "index.npz")


def test_small_recordings_keep_a_few_held_out_episodes_and_short_runs_warm_up_briefly():
    from worldsim.data.dataset import split_episodes
    from worldsim.train.schedule import short_run_warmup

    sizes = {n: len(split_episodes(n, 0.05)[1]) for n in (1, 2, 4, 8, 24, 300)}
    assert sizes == {1: 0, 2: 1, 4: 1, 8: 2, 24: 3, 300: 15}  # 5% of 24 would be one episode
    train, held = split_episodes(24, 0.05)
    assert len(set(train) | set(held)) == 24 and not set(train) & set(held)
    assert short_run_warmup(1000, 300) == 100 and short_run_warmup(1000, 5000) == 500
    assert short_run_warmup(1000, 60000) == 1000 and short_run_warmup(2, 6) == 2
