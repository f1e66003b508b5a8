"""The prepared GPU run (scripts/gpu_train.sh -> `worldsim gpu-run`) in tiny mode on this CPU: the same code path as
on the lent GPU, so that it cannot rot between the sessions that get one."""

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from worldsim.train import gpu_run

REPO = Path(__file__).resolve().parents[1]


def test_tiny_gpu_run_leaves_scored_models_in_out(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "OUT": str(out), "GPU_WORK": str(work), "PYTHON": sys.executable}
    p = subprocess.run(["bash", str(REPO / "scripts" / "gpu_train.sh"), "tiny=true"], env=env, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    files = sorted(f.name for f in out.iterdir())
    # what the device tool brings back: at most 8 files of at most 16 MiB
    assert len(files) <= 8 and all((out / f).stat().st_size < 16 * 2**20 for f in files), files
    models = ("voxel-long", "voxel-blur")
    assert {"log.txt", "result.json", *(f"{m}.tar.part00" for m in models)} <= set(files)
    result = json.loads((out / "result.json").read_text())
    assert all(result["train"][m]["step"] > 20500 for m in models)  # each continued from its shipped model's step
    assert all(len(result["train"][m]["steps_per_s_logged"]) >= 1 for m in models)  # the rate as it trained
    evals = result["eval"]
    assert set(evals) == {"eval-voxel-all", "eval-voxel-long-all", "eval-voxel-blur-all"}
    assert all(np.isfinite(e["next_frame_psnr"]) for e in evals.values())
    assert result["bench"]["bench-voxel-eager"]["fps_b1"] > 0
    failed = {k: s for k, s in result["stages"].items() if s["exit"] != 0}
    assert not failed, (failed, (out / "log.txt").read_text()[-3000:])

    # back here: the parts become world-model folders with the shipped VAE, which load and dream
    dest = tmp_path / "back"
    u = subprocess.run(["bash", str(REPO / "scripts" / "gpu_unpack.sh"), str(out), str(dest)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert u.returncode == 0, u.stdout + u.stderr
    from worldsim.world_model import load_world_model

    wm = load_world_model(str(dest / "voxel-blur"))
    assert wm.info["extra_latents"] and wm.clips["frames"].shape[1:] == (wm.window, 64, 64, 3)  # a full context
    assert wm.info["recipe"]["diffusion"]["context_blur_prob"] == 0.5  # a model's own overrides reach its export
    long = load_world_model(str(dest / "voxel-long"))
    assert long.info["recipe"]["rollout_prob"] == 0.5 and long.info["recipe"]["rollout_targets"] == 4
    assert len(wm.sampler_cfg.std_floor) == wm.dit.cfg.latent_shape[0]  # the contrast floor travels with the model
    assert wm.window == 12 and wm.sampler_cfg.context == 11  # tiny mode's stand-in for 48 and 47


def test_pack_splits_into_parts_that_join_back(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()
    payload = np.random.default_rng(0).integers(0, 255, 50_000, dtype=np.uint8).tobytes()
    (folder / "dit.safetensors").write_bytes(payload)
    (folder / "clips.npz").write_bytes(b"clips")
    monkeypatch.setattr(gpu_run, "PART_BYTES", 20_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.tar.part07").write_bytes(b"stale")  # an earlier, longer export's part is removed
    parts = gpu_run.pack(folder, out, "m", tmp_path)
    assert parts == [f"m.tar.part{i:02d}" for i in range(len(parts))] and len(parts) >= 3
    assert not (out / "m.tar.part07").exists()
    joined = tmp_path / "joined.tar"
    joined.write_bytes(b"".join((out / p).read_bytes() for p in parts))
    with tarfile.open(joined) as tar:
        assert tar.extractfile("m/dit.safetensors").read() == payload


def test_a_model_can_add_its_own_training_overrides(tmp_path):
    cfg = gpu_run.GpuRunConfig(out=str(tmp_path / "o"), work=str(tmp_path / "w"))
    r = gpu_run.Run(cfg)
    model = {"name": "ctx", "init_from": "voxel", "dit": "cpu", "lr": 1e-4, "warmup": 100,
             "overrides": ["diffusion.context_max_t=0.3", "sampler.context_noise=0.2"]}  # fmt: skip
    cmd = gpu_run.train_command(r, model, [], 2.0, compile=False)
    assert cmd[-2:] == model["overrides"]  # after the shared ones: a model's own value of a key wins
    assert "init_from=voxel" in cmd and "diffusion.one_prob=0.5" in cmd


def test_a_training_stopped_after_its_final_summary_counts_as_done(tmp_path):
    r = gpu_run.Run(gpu_run.GpuRunConfig(out=str(tmp_path / "out"), work=str(tmp_path / "work")))

    def stopped(name, code):
        log = r.work / "logs" / f"{name}.log"
        p = subprocess.Popen([sys.executable, "-c", code], stdout=open(log, "w"))
        while "ready" not in log.read_text():
            time.sleep(0.05)
        p.terminate()
        return r.finish(name, p, time.time())

    summary = "import json, time; print('ready'); print(json.dumps({'run_dir': 'runs/x', 'step': 5}), flush=True)"
    assert stopped("train-x", summary + "; time.sleep(60)") == {"run_dir": "runs/x", "step": 5}
    assert stopped("train-y", "import time; print('ready', flush=True); time.sleep(60)") is None  # cut off: failed
    assert r.result["stages"]["train-y"]["exit"] == -15 and "FAILED train-y" in (r.out / "log.txt").read_text()


def test_extra_policies_reach_the_recorder_as_a_hydra_dict():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from worldsim.policies import make_policy
    from worldsim.train.gpu_run import GpuRunConfig, _escape

    mix = ",".join(f"{_escape(n)}:{float(w)}" for n, w in GpuRunConfig().extra_policies.items())
    parsed = OverridesParser.create().parse_overrides([f"policies={{{mix}}}"])[0].value()
    assert parsed == GpuRunConfig().extra_policies
    assert {"hold:0.5:explorer", "revisit:0.04:explorer", "pause:0.03:explorer"} <= set(parsed)
    for name in parsed:  # each a policy the recorder can make
        make_policy(name, gym.spaces.MultiDiscrete([5, 5, 4]))


def test_a_models_own_compile_override_decides():
    """A model's overrides follow the run's settings: its last ``compile=`` is what the training does (and what the
    restart-without-compile rule reads)."""
    assert gpu_run.compiles(["train", "compile=true", "x=1"])
    assert not gpu_run.compiles(["train", "compile=true", "x=1", "compile=false"])
    assert not gpu_run.compiles(["train", "x=1"])
    rollouts = [m for m in gpu_run.MODELS if any(o.startswith("rollout_prob=") for o in m["overrides"])]
    assert rollouts and all("compile=false" in m["overrides"] for m in rollouts)  # own rollouts train eagerly


def test_the_yaml_is_the_dataclass():
    """`worldsim gpu-run` reads worldsim/configs/gpu_run.yaml, the tiny test path GpuRunConfig's defaults (MODELS):
    both must be the same recipe, or a CPU rehearsal tests another run than the lent GPU makes."""
    from dataclasses import asdict

    from omegaconf import OmegaConf

    yaml = OmegaConf.to_container(OmegaConf.load(Path(gpu_run.__file__).parents[1] / "configs" / "gpu_run.yaml"))
    assert yaml == asdict(gpu_run.GpuRunConfig()) and yaml["models"] == gpu_run.MODELS
