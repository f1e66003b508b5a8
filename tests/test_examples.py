"""Every example runs as a subprocess on a tiny budget; the evaluation's statistics are right."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldsim.eval.policy import mean_ci

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args):
    p = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_confidence_interval_of_a_known_sequence():
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sample std sqrt(2.5), t(0.975, 4) = 2.7764451
    assert ci["mean"] == pytest.approx(3.0)
    assert ci["ci95"] == pytest.approx(2.7764451 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)
    assert mean_ci([7.0])["ci95"] == 0.0
    with pytest.raises(ValueError):
        mean_ci([])


def test_evaluate_policy_example(tiny_world_model, tmp_path):
    out = run_example("evaluate_policy.py", "policy=explorer", f"model={tiny_world_model}", "episodes=3", "steps=6",
                      "videos=1", f"out={tmp_path}")  # fmt: skip
    assert out["episodes"] == 3 and out["real_return"]["n"] == 3 and out["dream_return"]["n"] == 3
    full = json.loads((tmp_path / "evaluate.json").read_text())
    assert len(full["real_lengths"]) == 3 and (tmp_path / "returns.png").stat().st_size > 1000
    assert Path(full["videos"][0]).stat().st_size > 1000


def test_ppo_in_dream_example(tiny_world_model, tmp_path):
    out = run_example(
        "ppo_in_dream.py",
        f"model={tiny_world_model}",
        "timesteps=64",
        "num_envs=2",
        "n_steps=32",
        "batch_size=32",
        "eval_episodes=2",
        "eval_steps=5",
        "real_envs=2",
        "horizon=16",
        "rounds=1",  # PPO in the dream alone (the loop of the default has its own test below)
        f"out={tmp_path}",
    )
    assert {"real_return_ppo_dream", "real_return_random", "real_return_ppo_real"} <= set(out)
    assert (tmp_path / "ppo_dream.zip").exists() and (tmp_path / "ppo_real.zip").exists()
    assert any((tmp_path / "tb").iterdir()) and (tmp_path / "ppo.png").stat().st_size > 1000
    assert "real_return_explorer" in out  # the voxel world's scripted baseline
    assert out["deterministic"] is False and out["real_return_ppo_dream_greedy"]["n"] == 2  # scored both ways
    assert out["dream_return_ppo_dream"]["n"] == 2  # the same policy in the dream: a gap flags a hole it found
    assert sum(out["dream_reward_by_action"].values()) <= 1.0 + 1e-6
    assert all(k.startswith("(") for k in out["dream_reward_by_action"])
    assert len(list((tmp_path / "stages").glob("ppo_dream_*_steps.zip"))) >= 1  # the policy at its stages


def test_ppo_loop_trains_the_world_model_on_the_policys_play_and_goes_on_after_a_cut(tiny_world_model, tmp_path):
    """`worldsim ppo rounds=2`: PPO in the dream, the policy's real play recorded and encoded, the world model
    trained on it from the current one, PPO continued in the new dream; a rerun keeps every finished round."""
    from safetensors.numpy import load_file

    args = [f"model={tiny_world_model}", "timesteps=64", "num_envs=2", "n_steps=32", "batch_size=32",
            "eval_episodes=2", "eval_steps=5", "horizon=16", "real_baseline=false", "checkpoints=0", "rounds=2",
            "loop.play_episodes=2", "loop.anchor_episodes=4", "loop.train_steps=2", "loop.batch_size=2",
            f"out={tmp_path}"]  # fmt: skip
    out = run_example("ppo_in_dream.py", *args)
    assert out["rounds"] == 2 and [e["round"] for e in out["loop"]] == [0, 1]
    assert out["loop"][1]["world_model_update"]["train"]["step"] == 2  # the tiny model's step 0, plus 2
    assert out["real_steps_policy_play"] == 2 * 16 and out["real_steps_anchor"] == 4 * 16
    new = Path(out["final_model"])
    assert new == tmp_path / "loop" / "round1" / "model" and (new / "clips.npz").is_file()
    before, after = load_file(f"{tiny_world_model}/dit.safetensors"), load_file(str(new / "dit.safetensors"))
    assert any(not np.allclose(before[k], after[k].astype(before[k].dtype)) for k in before)  # it learnt
    assert (new / "vae.safetensors").read_bytes() == Path(tiny_world_model, "vae.safetensors").read_bytes()
    assert (tmp_path / "loop" / "latents" / "anchor" / "meta.json").is_file()
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "ppo_in_dream.py"), *args], capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert "going on after round 1" in p.stderr and "training the world model" not in p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["final_model"] == str(new)
    from worldsim.train.ppo import ppo_in_dream

    with pytest.raises(ValueError, match=r"another `worldsim ppo` run \(it differs in \['timesteps'\]\)"):
        ppo_in_dream(tiny_world_model, timesteps=128, num_envs=2, horizon=16, rounds=2, out=str(tmp_path),
                     loop={"play_episodes": 2, "anchor_episodes": 4, "train_steps": 2, "batch_size": 2})  # fmt: skip


def test_ppo_loop_refuses_bad_settings(tiny_world_model, tmp_path):
    from worldsim.train.ppo import ppo_in_dream

    with pytest.raises(ValueError, match="rounds must be at least 1"):
        ppo_in_dream(tiny_world_model, rounds=0, out=str(tmp_path))
    with pytest.raises(ValueError, match=r"loop: unknown settings \['episodes'\]"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"episodes": 3}, out=str(tmp_path))
    with pytest.raises(ValueError, match="loop.epsilon"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"epsilon": 2.0}, out=str(tmp_path))
    with pytest.raises(ValueError, match="loop.train_minutes"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"train_minutes": None}, out=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a latent cache"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"anchor": str(tmp_path / "nowhere")}, out=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"loop.extra names .*nowhere.*not a latent cache"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"extra": [str(tmp_path / "nowhere")]}, out=str(tmp_path))
    with pytest.raises(TypeError, match="loop.keep_play must be true or false"):
        ppo_in_dream(tiny_world_model, rounds=2, loop={"keep_play": "no"}, out=str(tmp_path))


def test_ppo_loop_rounds_train_on_all_the_play_so_far(tmp_path):
    """A round trains on its own play, every earlier round's play (DIAMOND keeps all it collected) and the
    `loop.extra` caches; `keep_play=false` the latest round's play alone."""
    from worldsim.train.dream_loop import loop_config, training_play

    for name in ("round1", "round2", "round3", "ppoplay"):
        (tmp_path / "latents" / name).mkdir(parents=True)
        (tmp_path / "latents" / name / "meta.json").write_text("{}")
    play, extra = tmp_path / "latents" / "round3", str(tmp_path / "latents" / "ppoplay")
    cfg = loop_config({"play_repeat": 2, "extra": extra})  # (one cache given as a string)
    assert training_play(tmp_path, 3, play, cfg) == [str(play), str(play), str(tmp_path / "latents" / "round1"),
                                                     str(tmp_path / "latents" / "round2"), extra]  # fmt: skip
    assert training_play(tmp_path, 3, play, loop_config({"keep_play": False})) == [str(play)]


def test_sb3_model_round_trip(tiny_world_model, tmp_path):
    import gymnasium as gym
    from stable_baselines3 import PPO

    from worldsim.envs.world_model_env import WorldModelEnv
    from worldsim.policies import SB3Policy

    env = WorldModelEnv(tiny_world_model)
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=16, seed=0, device="cpu")
    model.save(tmp_path / "agent.zip")
    policy = SB3Policy(env.action_space, path=str(tmp_path / "agent.zip"))
    obs, _ = env.reset(seed=0)
    a = policy.act_single(obs)
    assert env.action_space.contains(a)
    expected, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(a, expected)
    from worldsim.policies import make_policy

    sampled = make_policy(f"sample:{tmp_path / 'agent.zip'}", env.action_space, 1, seed=0)
    assert isinstance(sampled, SB3Policy) and not sampled.deterministic  # acts as it did while it learned
    drawn = {tuple(sampled.act_single(obs)) for _ in range(30)}
    assert len(drawn) > 1 and all(env.action_space.contains(np.array(d)) for d in drawn)
    with pytest.raises(ValueError, match="sample:<path"):
        make_policy("sample:explorer", env.action_space)
    with pytest.raises(ValueError, match="action space"):
        SB3Policy(gym.spaces.MultiDiscrete([2, 2, 2]), path=str(tmp_path / "agent.zip"))
    with pytest.raises(FileNotFoundError):
        SB3Policy(env.action_space, path=str(tmp_path / "missing.zip"))


def test_evaluate_ranks_policies_in_both_worlds(tiny_world_model, tmp_path):
    from worldsim.eval.policy import evaluate_policy

    with pytest.raises(ValueError, match="unknown policy 'greedy'"):  # every name checked before anything plays
        evaluate_policy(model=tiny_world_model, policies=["random", "greedy"], episodes=2, steps=3, out=str(tmp_path))
    out = evaluate_policy(model=tiny_world_model, policies=["still", "random", "eps:0.5:explorer"], episodes=2,
                          steps=4, out=str(tmp_path))  # fmt: skip
    assert set(out["returns"]) == {"still", "random", "eps:0.5:explorer"}
    full = json.loads((tmp_path / "ranking.json").read_text())
    assert [r["policy"] for r in full["policies"]] == ["still", "random", "eps:0.5:explorer"]
    assert all(r["real_return"]["n"] == r["dream_return"]["n"] == 2 for r in full["policies"])
    for r in full["policies"]:  # the paid steps explain the returns (the tiny model pays any value, the real +-1)
        paid = r["paid_steps"]
        assert set(paid) == {"real", "dream"} and all(v >= 0 for w in paid.values() for v in w.values())
        assert sum(r["real_returns"]) == paid["real"]["positive"] - paid["real"]["negative"]
        assert (paid["dream"]["positive"] + paid["dream"]["negative"] == 0) == (not any(r["dream_returns"]))
    assert full["spearman"] is None or -1 <= full["spearman"] <= 1
    assert (tmp_path / "ranking.png").stat().st_size > 1000
    assert full["real_info"] is False


@pytest.mark.parametrize("real_info", [False, True])
def test_evaluate_gives_the_policy_the_same_inputs_in_both_worlds(tiny_world_model, tmp_path, monkeypatch, real_info):
    """A dream has frames only: by default the policy gets no ``info`` in the real world either (else the scripted
    explorer, which reads the real env's target block, would be a better informed policy there)."""
    import worldsim.eval.policy as ev
    from worldsim.policies import RandomPolicy

    seen = []

    class Spy(RandomPolicy):
        def act(self, obs, info=None, mask=None):
            seen.append(info)
            return super().act(obs, info, mask)

    monkeypatch.setattr(ev, "make_policy", lambda spec, space, n, seed=None: Spy(space, n, seed))
    ev.evaluate_policy(model=tiny_world_model, policy="random", episodes=1, steps=3, videos=0, out=str(tmp_path),
                       real_info=real_info)  # fmt: skip
    real_infos = [i for i in seen if i]  # a policy without info gets None or {}
    assert bool(real_infos) == real_info and all("target_block" in i for i in real_infos)


def test_the_readmes_python_snippets_run_as_written(tmp_path, monkeypatch):
    """Every ```python block of the README, executed as it stands (from a scratch folder, as a fresh clone would)."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if '"cuda"' not in b]  # no GPU here
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


def test_explorer_in_dream_probe_counts_both_worlds(tiny_world_model):
    out = run_example("explorer_in_dream.py", f"model={tiny_world_model}", "episodes=2", "steps=5")
    for world in ("real", "dream"):
        c = out[world]
        assert 0 <= c["paid"] and 0 <= c["breaks_on_log"] <= c["breaks"] <= 2 * 5, (world, c)
        assert 0 <= c["log_under_crosshair"] <= 1 and c["frames"] <= 2 * 5
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "explorer_in_dream.py"), "episodes=two"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode != 0 and "episodes, steps and seed must be integers" in p.stderr
