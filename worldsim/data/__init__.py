"""Recorded play: Minari datasets, training windows, and the latent cache."""

from worldsim.data.dataset import FrameStore, load_frames, open_dataset, split_episodes

__all__ = ["FrameStore", "load_frames", "open_dataset", "split_episodes"]
