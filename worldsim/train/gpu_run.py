"""`worldsim gpu-run`: the prepared one-shot GPU run, from nothing to scored world models within a wall-clock budget.

    bash scripts/gpu_train.sh                    # on the lent GPU machine ($OUT: what comes back); see the README
    worldsim gpu-run tiny=true out=/tmp/o        # the same code path in seconds on a CPU (the test suite runs it)

A GPU machine may come for minutes, bare, with a hard limit; so this run is built to need no attention and to
leave something usable whenever it is cut off:
1. record the voxel recipe's dataset with every core (its held-out episodes score every model, the shipped one
   included), and more episodes with later seeds that only train;
2. encode both with the shipped VAE on the GPU;
3. train the DiT models of ``models`` side by side on the one GPU for the same wall-clock time (bf16 autocast,
   the latent cache in GPU memory, compiled unless a model's overrides say ``compile=false``): by default the
   second shipped model (``voxel-long``) continued with its recipe, half its batches 1-16 dreamed frames on 24-frame
   windows (eager), now with blurred context as well, and the default model (``voxel``) continued with its own
   recipe, half its windows' context blurred (``voxel-blur``; README, session 23). A training that dies early with
   ``compile`` is restarted without it;
4. export each model into ``out`` as it trains (a tar of the fp16 DiT and its start clips, split into parts of at
   most 15 MiB), score every model and the shipped one on the same held-out clips (``worldsim eval``), and
   measure the dream's speed on the GPU (``worldsim bench sampler``, bf16, eager and compiled).
``out`` gets ``log.txt``, ``result.json`` (rewritten after every stage) and the model parts: at most 8 files.
``scripts/gpu_unpack.sh`` turns the parts back into world-model folders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PART_BYTES = 15 * 2**20  # a returned file stays under the device tool's 16 MiB


MODELS = [  # the default models; worldsim/configs/gpu_run.yaml says the same. Own-rollout batches train eagerly:
    # in a few minutes compiling did not pay (2026-11-27, H200: 4.9 steps/s compiled alone against 7.7 eager beside
    # two other trainings); the shipped second model (voxel-long) continued with its recipe plus the blurred context
    # that gave the default its colours (session 23) and the camera's pitch as an input (session 30), and the default
    # model (voxel) with its own recipe at GPU scale
    {"name": "voxel-long", "init_from": "voxel-long", "dit": "cpu", "lr": 1e-4, "warmup": 100,
     "overrides": ["rollout_prob=0.5", "rollout_window=24", "rollout_frames=16", "rollout_targets=4",
                   "std_floor_quantile=0.1", "diffusion.context_blur_prob=0.5", "compile=false", "pitch=true"]},
    {"name": "voxel-blur", "init_from": "voxel", "dit": "cpu", "lr": 1e-4, "warmup": 100,
     "overrides": ["diffusion.context_blur_prob=0.5", "std_floor_quantile=0.1"]},
]  # fmt: skip


@dataclass
class GpuRunConfig:
    out: str = "outputs/gpu-run"  # what comes back: log.txt, result.json, <model>.tar.partNN
    work: str = "gpu-work"  # datasets, latent caches and runs (not returned)
    minutes: float = 8.5  # wall-clock budget of the whole run, counted from `started`
    started: float | None = None  # epoch seconds when the run began (the script's start; None: now)
    reserve_minutes: float = 2.5  # kept after training for the final export, the evaluations and the benchmarks
    train_minutes: float | None = None  # each model's training time (None: what the budget leaves)
    processes: int | None = None  # recording processes (None: every core)
    episodes: int = 300  # the recipe's dataset (worldsim/voxel-mix-v1, seeds 0..episodes-1)
    extra_episodes: int = 300  # more episodes with the following seeds: training only
    # the extra episodes' policies: some play holds break on after a break (hold:<p>:<base>), so that the models see
    # that a second press where the log was pays nothing, and some turns away and back (revisit:<p>:<base>), so that
    # they see a view come back from the context, and some stands still now and then (pause:<p>:<base>), so that
    # they see that doing nothing leaves the view as it is (the recipe's explorer shows none of these; README)
    extra_policies: dict = field(default_factory=lambda: {"explorer": 0.35, "hold:0.5:explorer": 0.2,
                                                          "revisit:0.04:explorer": 0.2, "pause:0.03:explorer": 0.1,
                                                          "random": 0.15})  # fmt: skip
    max_episode_steps: int | None = None  # None: the env's limit (1000)
    batch_size: int = 64  # windows per step for every model (of 48 frames: 3,072 frames a step)
    compile: bool = True  # torch.compile the trainings and the benchmark's second pass
    # trained side by side; a model may add "overrides": [key=value, ...] of its own, given after train_overrides
    models: list = field(default_factory=lambda: [dict(m) for m in MODELS])
    train_overrides: list = field(default_factory=lambda: [
        "output=gated", "diffusion.one_prob=0.5", "diffusion.clean_prev=true", "window=48", "sampler.context=47",
        "ckpt_every=500", "sample_every=5000", "log_every=200", "threads=1",
    ])  # fmt: skip
    eval_clips: int = 128
    eval_horizon: int = 8
    eval_policies: list = field(default_factory=lambda: ["random", None])  # None: every held-out episode
    bench_batches: list = field(default_factory=lambda: [1, 32, 256])
    export_every_s: float = 60.0  # export the newest checkpoints into `out` this often while training
    tiny: bool = False  # a handful of short episodes and seconds of training: the code path, on a CPU


TINY = {"episodes": 4, "extra_episodes": 2, "max_episode_steps": 60, "batch_size": 4, "compile": False,
        "minutes": 5.0, "train_minutes": 0.05, "export_every_s": 1.0,
        "eval_clips": 4, "eval_horizon": 3, "eval_policies": [None], "bench_batches": [1, 2], "processes": 2,
        # every model, warmed up for 2 steps, on 12-frame windows (episodes of 60 steps hold the shipped 48)
        "models": [{**m, "warmup": 2, "overrides": [*m.get("overrides", []), "window=12", "sampler.context=11",
                                                    "rollout_window=12", "log_every=2"]} for m in MODELS]}  # fmt: skip


class Run:
    """The run's clock, log and result file."""

    def __init__(self, cfg: GpuRunConfig):
        self.cfg = cfg
        self.t0 = cfg.started or time.time()
        self.out, self.work = Path(cfg.out).resolve(), Path(cfg.work).resolve()  # children run inside work
        self.out.mkdir(parents=True, exist_ok=True)
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.result: dict = {"config": asdict(cfg), "stages": {}}

    def left_s(self) -> float:
        return self.cfg.minutes * 60 - (time.time() - self.t0)

    def log(self, msg: str) -> None:
        line = f"[{time.time() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        with open(self.out / "log.txt", "a") as f:
            f.write(line + "\n")

    def save(self) -> None:
        tmp = self.out / ".result.json.tmp"
        tmp.write_text(json.dumps(self.result, indent=1))
        os.replace(tmp, self.out / "result.json")

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        """A `worldsim` command in the background, its output in work/logs/<name>.log."""
        log = open(self.work / "logs" / f"{name}.log", "w")
        self.log(f"start {name}: worldsim {' '.join(command)}")
        return subprocess.Popen([sys.executable, "-m", "worldsim.cli", *command], cwd=self.work, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip

    def finish(self, name: str, proc: subprocess.Popen, t_start: float, timeout: float | None = None) -> dict | None:
        """Wait for a command; its last JSON line (or None, with the log's tail in log.txt, if it failed)."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "timeout"
        text = (self.work / "logs" / f"{name}.log").read_text(errors="replace")
        seconds = round(time.time() - t_start, 1)
        self.result["stages"][name] = {"seconds": seconds, "exit": code}
        found = [ln for ln in text.splitlines() if ln.startswith("{")]
        if code == -signal.SIGTERM and found and '"run_dir"' in found[-1]:  # a training's final summary was out:
            self.log(f"done {name} in {seconds}s (SIGTERM at the budget came after its final checkpoint)")
            return json.loads(found[-1])
        if code != 0:
            self.log(f"FAILED {name} ({code}) after {seconds}s; its log ends:\n" + "\n".join(text.splitlines()[-25:]))
            self.save()
            return None
        self.log(f"done {name} in {seconds}s")
        return json.loads(found[-1]) if found else {}

    def run(self, name: str, command: list[str], timeout: float | None = None) -> dict | None:
        return self.finish(name, self.start(name, command), time.time(), timeout)


# --------------------------------------------------------------------------------------------------- stages
def _escape(name: str) -> str:
    """A policy name as a key of a Hydra dict override (``hold:0.5:explorer`` -> ``hold\\:0.5\\:explorer``)."""
    return "".join("\\" + ch if ch in ":=,{}[]() " else ch for ch in str(name))


def record_data(r: Run) -> None:
    cfg = r.cfg
    procs = cfg.processes or os.cpu_count() or 2
    common = [f"root={r.work / 'minari'}", "progress=false", "envs_per_process=1"]
    if cfg.max_episode_steps:
        common.append(f"max_episode_steps={cfg.max_episode_steps}")
    # the recipe first (its held-out episodes are every model's test set), then the extra seeds
    t = time.time()
    rec = r.run("record", ["record", f"episodes={cfg.episodes}", f"processes={procs}", *common])
    if rec is None:
        raise SystemExit("recording the recipe failed: see log.txt")
    r.result["record"] = rec
    if cfg.extra_episodes:
        mix = ",".join(f"{_escape(name)}:{float(w)}" for name, w in dict(cfg.extra_policies).items())
        extra = r.run("record-extra", ["record", "dataset_id=worldsim/voxel-extra-v1", f"seed={cfg.episodes}",
                                       f"episodes={cfg.extra_episodes}", f"processes={procs}", f"policies={{{mix}}}",
                                       *common])  # fmt: skip
        r.result["record_extra"] = extra
    r.log(f"recorded in {time.time() - t:.1f}s")
    r.save()


def encode_data(r: Run) -> list[str]:
    """Both datasets encoded at once (reading the recording is the slow part); returns the extra caches."""
    t = time.time()
    jobs = {"encode": ("worldsim/voxel-mix-v1", "latents/voxel-mix-v1")}
    if r.result.get("record_extra"):
        jobs["encode-extra"] = ("worldsim/voxel-extra-v1", "latents/voxel-extra-v1")
    procs = {name: r.start(name, ["encode", f"dataset_id={ds}", f"out={out}", "vae=voxel", "progress=false",
                                  f"root={r.work / 'minari'}"]) for name, (ds, out) in jobs.items()}  # fmt: skip
    results = {name: r.finish(name, p, t) for name, p in procs.items()}
    if results["encode"] is None:
        raise SystemExit("encoding the recipe failed: see log.txt")
    r.result["encode"] = results
    r.save()
    return [jobs["encode-extra"][1]] if results.get("encode-extra") else []


def train_command(r: Run, model: dict, extra: list[str], minutes: float, compile: bool) -> list[str]:
    cfg = r.cfg
    cmd = ["train", "latents=latents/voxel-mix-v1", "vae=voxel", f"run_dir=runs/{model['name']}",
           f"dit={model['dit']}", f"batch_size={cfg.batch_size}", f"lr={model['lr']}", f"warmup={model['warmup']}",
           "steps=100000000", f"max_minutes={minutes:.3f}", f"compile={str(compile).lower()}", "progress=false",
           f"extra_latents=[{','.join(extra)}]", *cfg.train_overrides]  # fmt: skip
    if model.get("init_from"):
        cmd.append(f"init_from={model['init_from']}")
    return cmd + list(model.get("overrides", []))


def compiles(command: list[str]) -> bool:
    """Whether a training command compiles: its last ``compile=`` (a model's own overrides come after the run's)."""
    values = [a.split("=", 1)[1] for a in command if a.startswith("compile=")]
    return bool(values) and values[-1].lower() == "true"


def export_model(r: Run, name: str) -> dict | None:
    """The run's newest EMA weights as a world model (fp16 DiT + held-out start clips) packed into ``out``."""
    from worldsim.export import export_world_model

    run_dir = r.work / "runs" / name
    if not (run_dir / "model.safetensors").is_file():
        return None
    folder = r.work / "export" / name
    exp = export_world_model(str(run_dir), str(folder), root=str(r.work / "minari"))
    pack(folder, r.out, name, r.work)
    return exp


def pack(folder: Path, out: Path, name: str, scratch: Path | None = None) -> list[str]:
    """``folder``'s DiT and start clips (not the VAE: it is the shipped one, named by its hash) as a tar split into
    parts of at most PART_BYTES: ``<name>.tar.part00``, ... Each part is renamed into place whole and the previous
    export's extra parts go last, so a run cut off here still leaves whole parts of one export or the other."""
    scratch = scratch or folder.parent
    tmp = scratch / f".{name}.tar"
    with tarfile.open(tmp, "w") as tar:
        for f in ("dit.safetensors", "clips.npz"):
            if (folder / f).exists():
                tar.add(folder / f, arcname=f"{name}/{f}")
    parts = []
    with open(tmp, "rb") as src:
        while chunk := src.read(PART_BYTES):
            part = out / f"{name}.tar.part{len(parts):02d}"
            (scratch / f".{part.name}").write_bytes(chunk)
            os.replace(scratch / f".{part.name}", part)
            parts.append(part.name)
    tmp.unlink()
    for old in out.glob(f"{name}.tar.part*"):
        if old.name not in parts:
            old.unlink()
    return parts


def train_models(r: Run, extra: list[str]) -> list[str]:
    """Every model of ``models`` trained side by side until the reserve; exported as it goes."""
    cfg = r.cfg
    minutes = cfg.train_minutes or max(0.05, (r.left_s() - 60 * cfg.reserve_minutes) / 60)
    r.log(f"training {[m['name'] for m in cfg.models]} side by side for {minutes:.2f} min each")
    t = time.time()
    procs = {}
    for m in cfg.models:
        cmd = train_command(r, m, extra, minutes, cfg.compile)
        procs[m["name"]] = (m, r.start(f"train-{m['name']}", cmd), compiles(cmd))
    last_export, stopped = time.time(), set()
    while any(p.poll() is None for _, p, _ in procs.values()):
        time.sleep(1.0)
        for name, (m, p, compiled) in list(procs.items()):
            code = p.poll()
            if code not in (None, 0) and compiled and time.time() - t < 0.5 * minutes * 60:
                r.log(
                    f"train-{name} died ({code}) with compile=true; its log ends:\n"
                    + "\n".join((r.work / "logs" / f"train-{name}.log").read_text(errors="replace").splitlines()[-15:])
                )
                left = cfg.train_minutes or max(0.05, (r.left_s() - 60 * cfg.reserve_minutes) / 60)
                shutil.rmtree(r.work / "runs" / name, ignore_errors=True)  # a fresh run, with a budget of what is left
                procs[name] = (m, r.start(f"train-{name}", train_command(r, m, extra, left, False)), False)
        if r.left_s() < 60 * cfg.reserve_minutes - 20:  # over time (start-up, loading): save and stop them now
            for name, (_, p, _) in procs.items():
                if p.poll() is None and name not in stopped:
                    r.log(f"train-{name} is over the budget: SIGTERM (it checkpoints and exits)")
                    p.terminate()
                    stopped.add(name)
        if time.time() - last_export > cfg.export_every_s:
            for name in procs:
                try:
                    export_model(r, name)
                except Exception as exc:  # a checkpoint mid-write or a failed run: the next export tries again
                    r.log(f"export {name} skipped: {exc}")
            last_export = time.time()
    trained = []
    for name, (_, p, _) in procs.items():
        res = r.finish(f"train-{name}", p, t)
        if res is not None:  # the rate at each log line: what compiling (or sharing the GPU) cost and gave
            res["steps_per_s_logged"] = logged_rates(r.work / "logs" / f"train-{name}.log")
        r.result.setdefault("train", {})[name] = res
        exp = export_model(r, name)
        if exp is not None:
            trained.append(name)
            r.result.setdefault("export", {})[name] = exp
    r.save()
    return trained


def logged_rates(log: Path) -> list[float]:
    """The steps/s of every progress line a training printed (JSON lines with ``step`` and ``steps_per_s``)."""
    rates = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"steps_per_s"' in line and '"run_dir"' not in line:
            try:
                rates.append(float(json.loads(line)["steps_per_s"]))
            except (ValueError, KeyError, TypeError):
                pass
    return rates


def evaluate_models(r: Run, trained: list[str]) -> None:
    """Every model and the shipped one on the same held-out clips, all evaluations at once."""
    cfg = r.cfg
    t = time.time()
    procs = {}
    for policy in cfg.eval_policies:
        for name in ["voxel", *trained]:
            model = "voxel" if name == "voxel" else str(r.work / "export" / name)
            tag = f"eval-{name}-{policy or 'all'}"
            procs[tag] = r.start(tag, ["eval", f"model={model}", "dataset_id=worldsim/voxel-mix-v1",
                                       f"root={r.work / 'minari'}", f"clips={cfg.eval_clips}",
                                       f"horizon={cfg.eval_horizon}", f"policy={policy or 'null'}", "device=auto",
                                       f"out=eval/{tag}", "plot=false"])  # fmt: skip
    for tag, p in procs.items():
        res = r.finish(tag, p, t, timeout=max(30.0, r.left_s() - 20))
        r.result.setdefault("eval", {})[tag] = res
    r.save()


def bench(r: Run, trained: list[str]) -> None:
    """The dream's frames/s on this machine's accelerator: eager and compiled, at the benchmark's batch sizes."""
    cfg = r.cfg
    if not cfg.bench_batches:
        return
    batches = f"batches=[{','.join(str(b) for b in cfg.bench_batches)}]"
    jobs = [("bench-voxel-eager", "voxel", False)]
    if cfg.compile:
        jobs.append(("bench-voxel-compiled", "voxel", True))
    jobs += [(f"bench-{name}-eager", str(r.work / "export" / name), False) for name in trained]
    for tag, model, compiled in jobs:
        if r.left_s() < 25:
            r.log(f"skip {tag}: out of time")
            continue
        res = r.run(tag, ["bench", "sampler", f"model={model}", "device=auto", f"compile={str(compiled).lower()}",
                          "steps_list=[2]", batches, f"threads={min(4, os.cpu_count() or 1)}"],
                    timeout=max(20.0, r.left_s() - 10))  # fmt: skip
        r.result.setdefault("bench", {})[tag] = res
        r.save()


def gpu_run(cfg: GpuRunConfig) -> dict:
    if cfg.tiny:
        for k, v in TINY.items():
            setattr(cfg, k, v)
    r = Run(cfg)
    import torch

    r.result["machine"] = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "cpus": os.cpu_count(),
                           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}  # fmt: skip
    r.log(f"machine: {r.result['machine']}; {r.left_s():.0f}s left")
    shutil.rmtree(r.work / "runs", ignore_errors=True)  # a fresh run (data of an earlier run is re-recorded too)
    shutil.rmtree(r.work / "minari", ignore_errors=True)
    record_data(r)
    extra = encode_data(r)
    trained = train_models(r, extra)
    evaluate_models(r, trained)
    bench(r, trained)
    r.result["seconds"] = round(time.time() - r.t0, 1)
    r.log(f"finished with {r.left_s():.0f}s of the budget left")
    r.save()
    return {"out": str(r.out), "trained": trained, "seconds": r.result["seconds"]}
