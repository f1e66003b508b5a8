"""`worldsim train-idm`: the inverse-dynamics model the report card reads dreams with; the loop is all here.

    worldsim train-idm                                 # the voxel recipe's recording -> runs/idm-voxel
    worldsim train-idm steps=300 run_dir=runs/idm-test

Trains on real transitions (frame, next frame, the action between) of the dataset's training episodes, the split
every other stage uses, and scores the held-out episodes' transitions: the accuracy per action column and per value
is the ceiling a dream's transitions are measured against. Writes ``run_dir/model.safetensors`` and
``run_dir/eval.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from worldsim.checkpoint import save_model
from worldsim.data.dataset import load_frames, open_dataset, split_episodes
from worldsim.models.actions import space_to_json
from worldsim.models.idm import IDM, IDMConfig
from worldsim.train.schedule import warmup_cosine


@dataclass
class TrainIDMConfig:
    dataset_id: str = "worldsim/voxel-mix-v1"
    root: str = "data/minari"
    run_dir: str = "runs/idm-voxel"
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 200
    weight_decay: float = 1e-4
    eval_fraction: float = 0.05  # the held-out split every stage uses
    split_seed: int = 0
    max_episodes: int | None = None
    policy: str | None = None  # train only on episodes recorded with this policy (None: all)
    eval_policy: str | None = "random"  # score held-out episodes of this policy (random: every action as often)
    balance: bool = True  # weigh each action value by its inverse frequency in training (the explorer walks a lot)
    eval_transitions: int = 4096  # held-out transitions scored at the end
    log_every: int = 100
    seed: int = 0
    threads: int = 2
    progress: bool = True


def transitions(store) -> np.ndarray:
    """Indices j of every frame followed by another frame of its episode."""
    return np.concatenate([np.arange(s, e - 1) for s, e in zip(store.ep_start[:-1], store.ep_start[1:]) if e - s > 1])


def accuracy_table(pred: np.ndarray, true: np.ndarray) -> dict:
    """Accuracy per column and, within each column, per true value: ``{"column c": {"all": acc, "v": acc, ...}}``."""
    out = {}
    for c in range(true.shape[1]):
        col = {"all": round(float((pred[:, c] == true[:, c]).mean()), 4)}
        for v in np.unique(true[:, c]):
            m = true[:, c] == v
            col[str(int(v))] = round(float((pred[m, c] == v).mean()), 4)
        out[f"column {c}"] = col
    return out


def train_idm(cfg: TrainIDMConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dataset = open_dataset(cfg.dataset_id, root=cfg.root)
    ids = np.asarray(dataset.episode_indices)[: cfg.max_episodes]
    train_idx, eval_idx = split_episodes(len(ids), cfg.eval_fraction, cfg.split_seed)
    train_ids, held_ids = ids[train_idx], ids[eval_idx] if len(eval_idx) else ids[:1]
    played = {int(i): m.get("policy") for i, m in zip(ids, dataset.storage.get_episode_metadata(ids.tolist()))}
    for what, policy in (("training", cfg.policy), ("held-out", cfg.eval_policy)):
        if policy is None:
            continue
        chosen = np.array([i for i in (train_ids if what == "training" else held_ids) if played[int(i)] == policy],
                          dtype=np.int64)  # fmt: skip
        if len(chosen) == 0:
            raise ValueError(f"{cfg.dataset_id} has no {what} episode played by policy {policy!r} "
                             f"(policy / eval_policy = null use every episode)")  # fmt: skip
        train_ids, held_ids = (chosen, held_ids) if what == "training" else (train_ids, chosen)
    train = load_frames(dataset, train_ids)
    held = load_frames(dataset, held_ids)
    h, w, _ = train.frames.shape[1:]
    model = IDM(IDMConfig(resolution=(h, w), action_space=space_to_json(dataset.action_space)))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pairs = transitions(train)
    actions = torch.from_numpy(train.actions).long()
    weights = None
    if cfg.balance:  # inverse frequency of each value among the training transitions, mean weight 1 per column
        weights = []
        for c, n in enumerate(model.columns):
            freq = np.bincount(train.actions[pairs, c].astype(np.int64), minlength=n) / len(pairs)
            w = 1.0 / np.maximum(freq, 1e-3)
            weights.append(torch.as_tensor(w / (w * freq).sum(), dtype=torch.float32))

    from tqdm import tqdm

    t0, logs = time.perf_counter(), {}
    model.train()
    for step in tqdm(range(cfg.steps), desc="train-idm", disable=not cfg.progress):
        for g in opt.param_groups:
            g["lr"] = warmup_cosine(step, cfg.lr, cfg.warmup, cfg.steps, 0.05)
        j = pairs[rng.integers(0, len(pairs), cfg.batch_size)]
        loss, logs = model.loss(train.frames[j], train.frames[j + 1], actions[j], weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not cfg.progress and (step + 1) % cfg.log_every == 0:
            print(json.dumps({"step": step + 1, **{k: round(v, 4) for k, v in logs.items()}}), flush=True)
    model.eval()
    held_pairs = transitions(held)
    j = np.sort(rng.choice(held_pairs, min(cfg.eval_transitions, len(held_pairs)), replace=False))
    pred = model.predict(held.frames[j], held.frames[j + 1])
    table = accuracy_table(pred, held.actions[j].astype(np.int64))
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    info = {"dataset_id": str(cfg.dataset_id), "steps": cfg.steps, "policy": cfg.policy,
            "eval_policy": cfg.eval_policy, "held_out_accuracy": table}  # fmt: skip
    save_model(run / "model.safetensors", "idm", model.cfg, model.state_dict(), extra=info)
    result = {"run_dir": str(run), "steps": cfg.steps, "seconds": round(time.perf_counter() - t0, 1),
              "held_out_transitions": len(j), "held_out_accuracy": table, "config": asdict(cfg)}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result, indent=1))
    return {k: v for k, v in result.items() if k != "config"}
