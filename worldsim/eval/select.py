"""`worldsim select`: choose a training run's snapshot by the report card instead of taking its last step.

    worldsim train ... snapshot_every=200 run_dir=runs/x          # keeps runs/x/snapshots/step-NNNNNNN.safetensors
    worldsim select run_dir=runs/x clips_from=voxel std_floor=0.2 out=runs/x-select "baselines=[voxel]"

A run's last step is only its latest, and one checkpoint's card at one seed is a noisy reading of it (session 33:
over one run's snapshots random play's brightness gap read 2 to 29 on 8 worlds, each with a standard error of
7 to 14; on 32 worlds 9 to 19, each +-6 to 8). Each snapshot (and the run's final
model) is exported as it would ship (``worldsim export``: fp16, the start clips of ``clips_from``, the contrast
floor ``std_floor``) into ``out/step-NNNNNNN`` and scored by the report card's ``parts`` at each of ``seeds``
(``out/reports/<name>-seed<S>``); ``baselines`` (shipped names or world-model folders, scored as they are) join
the table. Every measure is a gap to the real world, smaller is better:

- ``brightness``: random play's last third, |dream - real| mean pixel value (the soak's drift, in 600 steps)
- ``sky``: random play, |dream - real| share of sky by pitch band (down, level, up), the bands' mean
- ``colour_js``, ``frechet``: the explorer's long rollouts, the buckets' mean (0 is the real world)
- ``sharpness``: the same rollouts, |1 - dream's sharpness over the real world's|

Beside each its standard error over the card's starts where the card has one (``<measure>_se``: brightness, and
the long part's three by a paired bootstrap; not ranked): how far apart two candidates must be to differ.

``averages=[k, ...]`` adds the uniform mean of the last k snapshots' weights as a candidate: an average longer
than the run's EMA, found after the fact (EDM2's post-hoc EMA; a warm-started CPU run of 1,500 steps ends with an
EMA of about its last 170 steps). Each measure ranks the candidates (1: best; averaged over seeds first); the pick
is the candidate (a baseline only where nothing else is scored) with the least sum of ranks (the first by name on
a tie); ``within_noise`` names, by measure with an error, the candidates within two standard errors of the pick's
reading: those it does not tell apart (score a close call at more ``seeds``). A scored candidate is
not scored again: a killed select resumes where it stopped (``out/settings.json`` holds what it scored with;
other settings need another ``out``). ``out/select.json`` holds the table, the ranks and the pick.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np


def _brightness(s: dict) -> float:
    real, dream = s["random_play_brightness_last"]
    return abs(dream - real)


def _sky(s: dict) -> float:
    return float(np.mean([abs(d - r) for r, d in s["random_play_sky"].values() if r is not None and d is not None]))


MEASURES = {  # name: (report part, its gap to the real world, its standard error or None, from the card's summary)
    "brightness": ("random_play", _brightness, lambda s: s.get("random_play_brightness_last_se")),
    "sky": ("random_play", _sky, lambda s: None),
    "colour_js": ("long", lambda s: s["long_mean"]["colour_js"], lambda s: s.get("long_mean_se", {}).get("colour_js")),
    "frechet": ("long", lambda s: s["long_mean"]["frechet"], lambda s: s.get("long_mean_se", {}).get("frechet")),
    "sharpness": (
        "long",
        lambda s: abs(1.0 - s["long_mean"]["sharpness_ratio"]),
        lambda s: s.get("long_mean_se", {}).get("sharpness_ratio"),
    ),
}
SNAPSHOT = re.compile(r"step-(\d+)\.safetensors")


def snapshots(run_dir: str | Path) -> dict[str, Path]:
    """``{"step-NNNNNNN": file}`` of a run's snapshots and its final model, by step (the final model only where no
    snapshot holds its step)."""
    from worldsim.checkpoint import load_model

    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run_dir={str(run)!r} is not a training run's folder")
    found = {}
    for f in sorted((run / "snapshots").glob("step-*.safetensors")):
        m = SNAPSHOT.fullmatch(f.name)
        if m:
            found[int(m.group(1))] = f
    final = run / "model.safetensors"
    if final.is_file():
        step = load_model(final, "dit")[2].get("info", {}).get("step")
        if isinstance(step, int) and step not in found:
            found[step] = final
    if not found:
        raise FileNotFoundError(f"{run} holds no snapshots (train with snapshot_every=N) and no model.safetensors")
    return {f"step-{k:07d}": found[k] for k in sorted(found)}


def average_snapshots(files: list[Path], dest: Path) -> Path:
    """The uniform mean of DiT files' weights (one run's snapshots: the same config), saved as one DiT file with the
    last file's metadata and the averaged files named in its info (``averaged``). A longer average than the run's
    EMA, computed after the fact (EDM2 finds the best EMA length of a diffusion model only after training)."""
    from worldsim.checkpoint import CheckpointError, load_model, save_model

    first_cfg, total, extra = None, {}, {}
    for f in files:
        cfg, state, extra = load_model(f, "dit")
        if first_cfg is None:
            first_cfg = cfg
        elif cfg != first_cfg:
            raise CheckpointError(
                f"{f} holds a DiT of another config than {files[0]}: only one run's snapshots average"
            )
        for k, v in state.items():
            total[k] = total[k] + v.double() if k in total else v.double()
    info = {**extra.get("info", {}), "averaged": [f.name for f in files]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    weights = {k: (v / len(files)).float() for k, v in total.items()}
    return save_model(dest, "dit", first_cfg, weights, extra={**extra, "info": info})


def _settings(settings: dict) -> dict:
    """The settings a select scores with, nulls left out (null: the card's and the run's own), so that a setting
    added later (``mean_band``) reads the same on an out written before it."""
    kept = {k: v for k, v in settings.items() if v is not None}
    return {**kept, "report": {k: v for k, v in (settings.get("report") or {}).items() if v is not None}}


def _ints(name: str, values) -> list[int]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"select {name} must be a list of integers, got {values!r}")
    values = list(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError(f"select {name} must be a list of integers, got {values!r}")
    return values


def select(run_dir: str, out: str, clips_from: str | None = None, std_floor: float | None = None,
           mean_band: float | None = None,
           parts: list[str] | None = None, seeds: list[int] | None = None, baselines: list[str] | None = None,
           steps: list[int] | None = None, averages: list[int] | None = None, threads: int = 2,
           report: dict | None = None) -> dict:  # fmt: skip
    """See the module docstring. ``steps``: score only these snapshot steps (None: all); ``averages``: for each k,
    one more candidate, the mean of the last k snapshots' weights (``meanK-step-NNNNNNN``, the last step named);
    ``report``: more ``worldsim report`` settings for every candidate (e.g. ``long_starts``, ``quick``)."""
    from worldsim.eval.report import report as card
    from worldsim.export import export_world_model

    parts = list(parts or ["random_play", "long"])
    seeds = _ints("seeds", [0] if seeds is None else seeds)
    steps = None if steps is None else _ints("steps", steps)
    measures = [m for m, (part, _, _) in MEASURES.items() if part in parts]
    if not measures:
        raise ValueError(f"select parts={parts}: none of them is measured; the measures come from "
                         f"{sorted({p for p, _, _ in MEASURES.values()})}")  # fmt: skip
    if not seeds:
        raise ValueError("select seeds must name at least one seed")
    averages = _ints("averages", averages or [])
    found = snapshots(run_dir)
    if any(k < 2 or k > len(found) for k in averages):
        raise ValueError(f"select averages: each must be 2 to the {len(found)} snapshots of {run_dir}, got {averages}")
    means = {f"mean{k}-{list(found)[-1]}": list(found.values())[-k:] for k in averages}
    if steps is not None:
        wanted = {f"step-{s:07d}" for s in steps}
        missing = sorted(wanted - set(found))
        if missing:
            raise ValueError(f"select steps: {missing} are not in {run_dir} (it holds {list(found)})")
        found = {k: v for k, v in found.items() if k in wanted}
    out_dir = Path(out)
    settings = _settings({"clips_from": clips_from, "std_floor": std_floor, "mean_band": mean_band,
                          "parts": sorted(parts), "report": report})  # fmt: skip
    kept = out_dir / "settings.json"
    if kept.is_file() and _settings(json.loads(kept.read_text())) != settings:
        raise ValueError(f"out={out} holds candidates exported and scored with {kept.read_text()}, not {settings}: "
                         "choose another out (or delete that one)")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(settings))
    candidates = {name: (out_dir / name, True) for name in [*found, *means]}
    for b in baselines or []:
        candidates[f"baseline:{b}"] = (b, False)
    table = {}
    for name, (model, exported) in candidates.items():
        if exported and not model.is_dir():  # exported whole, then renamed: a killed export is redone
            tmp = out_dir / f".{name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            source = found.get(name) or average_snapshots(means[name], out_dir / ".sources" / f"{name}.safetensors")
            export_world_model(str(source), str(tmp), clips_from=clips_from, std_floor=std_floor,
                               mean_band=mean_band)  # fmt: skip
            tmp.rename(model)
        rows, errors = [], []
        for seed in seeds:
            rep_dir = out_dir / "reports" / f"{name.replace(':', '-').replace('/', '_')}-seed{seed}"
            done = rep_dir / "summary.json"
            if not done.is_file():
                summary = card(model=str(model), parts=parts, seed=seed, threads=threads, out=str(rep_dir),
                               **settings["report"])  # fmt: skip
                rep_dir.mkdir(parents=True, exist_ok=True)
                done.write_text(json.dumps(summary))
            summary = json.loads(done.read_text())
            rows.append({m: float(MEASURES[m][1](summary)) for m in measures})
            errors.append({m: MEASURES[m][2](summary) for m in measures})
        table[name] = {m: round(float(np.mean([r[m] for r in rows])), 4) for m in measures}
        for m in measures:  # the standard error of the mean over seeds, where every seed's card has one
            se = [e[m] for e in errors]
            if None not in se:
                table[name][f"{m}_se"] = round(float(np.sqrt(np.mean(np.square(se)) / len(seeds))), 4)
        print(json.dumps({"candidate": name, **table[name]}), flush=True)
    names = list(table)
    ranks = {n: {} for n in names}
    for m in measures:
        values = np.array([table[n][m] for n in names])  # (the errors are not ranked)
        for n, v in zip(names, values):  # 1 + the number strictly better; ties share a rank
            ranks[n][m] = 1 + int((values < v).sum())
    total = {n: sum(ranks[n].values()) for n in names}
    pool = [n for n in names if not n.startswith("baseline:")] or names
    pick = min(pool, key=lambda n: (total[n], n))
    beaten = sorted(n for n in names if n.startswith("baseline:") and total[n] < total[pick])
    ties = {}  # by measure with errors: the candidates within two standard errors of the pick's reading
    for m in measures:
        if all(f"{m}_se" in table[n] for n in names):
            v, se = table[pick][m], table[pick][f"{m}_se"]
            ties[m] = [n for n in names if n != pick and abs(table[n][m] - v) <= 2 * np.hypot(se, table[n][f"{m}_se"])]
    result = {"run_dir": str(run_dir), "parts": parts, "seeds": seeds, "measures": measures,
              "clips_from": clips_from, "std_floor": std_floor, "table": table, "ranks": ranks, "rank_sum": total,
              "pick": pick, "pick_model": str(candidates[pick][0]), "beaten_by_baseline": beaten,
              "within_noise": ties}  # fmt: skip
    (out_dir / "select.json").write_text(json.dumps(result, indent=1))
    return {"benchmark": "select", "pick": pick, "pick_model": result["pick_model"], "rank_sum": total,
            "beaten_by_baseline": beaten, "within_noise": ties,
            "out": str(out_dir / "select.json")}  # fmt: skip
