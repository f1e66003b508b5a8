"""`worldsim train-reward`: the reward model dreams are paid by (``worldsim/models/reward_model.py``).

    worldsim train-reward                                            # the voxel recipe's recording -> runs/reward-voxel
    worldsim train-reward "extra_datasets=[worldsim/voxel-hold-v1]"  # and play that holds *break* after a break
    worldsim export run_dir=runs/dit-voxel reward=runs/reward-voxel  # a world-model folder whose dreams use it

Trains on real transitions (frame, next frame, the action between, the reward) of the training episodes of
``dataset_id`` and ``extra_datasets`` (the split every other stage uses). Rewards are sparse, so each batch is drawn
from three pools (``pools``): transitions that paid (``event_share``), transitions that paid nothing although their
action goes with rewards (``hard_share``: in the voxel world, *break* pressed at anything but a log, or pressed again
after the log went: the presses a policy in the dream would farm), and the rest. The classes are the distinct
rewards of the recordings. Scores precision and recall of the nonzero rewards on every held-out transition and
writes ``run_dir/model.safetensors`` (the scores in its metadata) and ``run_dir/eval.json``. Ctrl-C saves and stops.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from worldsim.checkpoint import save_model
from worldsim.data.dataset import FrameStore, load_frames, open_dataset, split_episodes
from worldsim.eval.rewards import event_scores
from worldsim.models.actions import space_to_json
from worldsim.models.reward_model import RewardModel, RewardModelConfig
from worldsim.train.interrupt import catch_stop_signals
from worldsim.train.schedule import warmup_cosine
from worldsim.train.train_idm import transitions

MAX_CLASSES = 16  # more distinct rewards than this: not a few classes (the DiT's regressed head is for those)


@dataclass
class TrainRewardConfig:
    dataset_id: str = "worldsim/voxel-mix-v1"
    extra_datasets: list[str] = field(default_factory=list)  # more recordings of the same env, all trained on
    root: str = "data/minari"
    run_dir: str = "runs/reward-voxel"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    event_share: float = 0.25  # of each batch: transitions with a nonzero reward
    hard_share: float = 0.375  # of each batch: zero-reward transitions whose action paid elsewhere
    eval_fraction: float = 0.05  # the held-out split every stage uses
    split_seed: int = 0
    max_episodes: int | None = None  # per dataset (None: all)
    log_every: int = 100
    seed: int = 0
    threads: int = 2
    progress: bool = True

    def __post_init__(self):
        if self.event_share < 0 or self.hard_share < 0 or self.event_share + self.hard_share > 1:
            raise ValueError(f"event_share and hard_share must be >= 0 and sum to at most 1, got "
                             f"{self.event_share} and {self.hard_share}")  # fmt: skip
        if isinstance(self.extra_datasets, str):
            raise ValueError(f"extra_datasets must be a list of dataset ids, got the string {self.extra_datasets!r}")


def _load(cfg: TrainRewardConfig) -> tuple[list[FrameStore], list[FrameStore], object]:
    """(training stores, held-out stores, action space) of every dataset, checked to be one env's."""
    train, held, space, shape = [], [], None, None
    for did in [cfg.dataset_id, *cfg.extra_datasets]:
        dataset = open_dataset(did, root=cfg.root)
        ids = np.asarray(dataset.episode_indices)
        tr, ev = split_episodes(len(ids), cfg.eval_fraction, cfg.split_seed)
        tr = tr[: cfg.max_episodes] if cfg.max_episodes else tr
        if space is None:
            space, shape = dataset.action_space, tuple(dataset.observation_space.shape)
        elif dataset.action_space != space:
            raise ValueError(f"{did} acts in {dataset.action_space}, but {cfg.dataset_id} in {space}: one env's "
                             "recordings only")  # fmt: skip
        train.append(load_frames(dataset, ids[tr], expect_shape=shape))
        held.append(load_frames(dataset, ids[ev], expect_shape=shape))
    return train, held, space


def pools(stores: list[FrameStore]) -> dict[str, np.ndarray]:
    """(store, frame index) pairs of every transition, sorted into ``paid`` (a nonzero reward), ``hard`` (no reward,
    but an action value that goes with rewards: in some column, a value at least a quarter of the paid transitions
    took and at least four times as common among them as among all; the voxel world's *break* and *place*) and
    ``rest``."""
    pairs = [(k, transitions(s)) for k, s in enumerate(stores)]
    acts = np.concatenate([stores[k].actions[j] for k, j in pairs])
    paid = np.concatenate([stores[k].rewards[j] != 0 for k, j in pairs])
    rewarding = np.zeros(len(acts), dtype=bool)
    if paid.any():
        for c in range(acts.shape[1]):
            values, counts = np.unique(acts[:, c], return_counts=True)
            if len(values) > 64:  # a continuous column: no value goes with rewards
                continue
            for v, n in zip(values, counts):
                share_paid, share_all = float((acts[paid, c] == v).mean()), n / len(acts)
                if share_paid >= 0.25 and share_paid >= 4 * share_all:
                    rewarding |= acts[:, c] == v
    where = np.concatenate([np.stack([np.full(len(j), k), j], 1) for k, j in pairs])
    return {"paid": where[paid], "hard": where[~paid & rewarding], "rest": where[~paid & ~rewarding]}


def score(model: RewardModel, stores: list[FrameStore]) -> dict:
    """Precision and recall of the nonzero rewards on every transition of ``stores``."""
    pred, truth = [], []
    for s in stores:
        j = transitions(s)
        pred.append(model.predict(s.frames[j], s.frames[j + 1], s.actions[j]))
        truth.append(s.rewards[j])
    return event_scores(np.concatenate(pred), np.concatenate(truth))


def train_reward(cfg: TrainRewardConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train, held, space = _load(cfg)
    values = np.unique(np.concatenate([s.rewards[transitions(s)] for s in train] + [[0.0]]))
    if len(values) > MAX_CLASSES:
        raise ValueError(f"the recordings hold {len(values)} distinct rewards: the reward model predicts a few classes "
                         f"(at most {MAX_CLASSES}); dream with the DiT's reward head for this env")  # fmt: skip
    h, w = train[0].frames.shape[1:3]
    model = RewardModel(RewardModelConfig(resolution=(h, w), action_space=space_to_json(space),
                                          reward_values=tuple(float(v) for v in values)))  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pool = pools(train)
    if len(pool["paid"]) == 0:
        raise ValueError(f"no transition of {[cfg.dataset_id, *cfg.extra_datasets]} paid a nonzero reward: nothing "
                         "to learn a reward from")  # fmt: skip
    shares = {"paid": cfg.event_share, "hard": cfg.hard_share if len(pool["hard"]) else 0.0}
    shares["rest"] = 1.0 - sum(shares.values())
    counts = {k: int(round(v * cfg.batch_size)) for k, v in shares.items()}
    counts["rest"] = cfg.batch_size - counts["paid"] - counts["hard"]
    requests, restore = catch_stop_signals()
    from tqdm import tqdm

    t0, logs, step = time.perf_counter(), {}, 0
    model.train()
    try:
        for step in tqdm(range(cfg.steps), desc="train-reward", disable=not cfg.progress):
            if requests:
                print(f"train-reward: stopped by signal {requests[0]} at step {step}; saving", file=sys.stderr)
                break
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(step, cfg.lr, cfg.warmup, cfg.steps, 0.05)
            pick = np.concatenate([pool[k][rng.integers(0, len(pool[k]), n)] for k, n in counts.items() if n > 0])
            before = np.stack([train[k].frames[j] for k, j in pick])
            after = np.stack([train[k].frames[j + 1] for k, j in pick])
            acts = np.stack([train[k].actions[j] for k, j in pick])
            rewards = np.array([train[k].rewards[j] for k, j in pick])
            loss, logs = model.loss(before, after, acts, rewards)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not cfg.progress and (step + 1) % cfg.log_every == 0:
                print(json.dumps({"step": step + 1, **{k: round(v, 4) for k, v in logs.items()}}), flush=True)
        else:
            step = cfg.steps
    finally:
        restore()
    model.eval()
    held_scores = score(model, held)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    info = {"datasets": [cfg.dataset_id, *cfg.extra_datasets], "steps": step, "held_out_reward": held_scores,
            "pools": {k: len(v) for k, v in pool.items()}}  # fmt: skip
    save_model(run / "model.safetensors", "reward", model.cfg, model.state_dict(), extra=info)
    result = {"run_dir": str(run), **info, "seconds": round(time.perf_counter() - t0, 1), "config": asdict(cfg)}
    (run / "eval.json").write_text(json.dumps(result, indent=1))
    return {k: v for k, v in result.items() if k != "config"}


__all__ = ["TrainRewardConfig", "pools", "score", "train_reward"]
