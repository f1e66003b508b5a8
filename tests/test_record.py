"""Recording play as Minari datasets: round trip, interruption, resume, non-image envs, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest

import worldsim  # noqa: F401
from worldsim.data import load_frames, open_dataset
from worldsim.data.dataset import load_held_out
from worldsim.data.record import RecordConfig, episode_plan, make_recording_env, record


def small_cfg(tmp_path, **kw) -> RecordConfig:
    base = dict(episodes=3, max_episode_steps=15, processes=2, envs_per_process=1, root=str(tmp_path),
                dataset_id="test/voxel-v0", progress=False, flush_every=1)  # fmt: skip
    return RecordConfig(**{**base, **kw})


def test_record_round_trip_is_bit_exact(tmp_path):
    cfg = small_cfg(tmp_path, policies={"explorer": 0.5, "random": 0.5})
    summary = record(cfg)
    assert summary["episodes"] == 3 and summary["frames"] == 45
    shares = summary["worker_time_shares"]  # where the workers' time went: env, policies, the rest
    assert set(shares) == {"env", "policy", "other"} and shares["env"] > 0 and shares["policy"] > 0
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.01)
    ds = open_dataset(cfg.dataset_id, root=tmp_path)
    assert len(ds) == 3
    metas = list(ds.storage.get_episode_metadata(ds.episode_indices))
    assert sorted(m["seed"] for m in metas) == [0, 1, 2]
    assert {m["policy"] for m in metas} <= {"explorer", "random"}
    for ep, meta in zip(ds.iterate_episodes(), metas):
        frames = np.asarray(ep.observations)
        assert frames.dtype == np.uint8 and frames.shape == (16, 64, 64, 3)
        assert ep.infos["position"].shape == (16, 3) and ep.infos["logs_collected"].shape == (16,)
        # replaying the recorded actions from the recorded seed reproduces every frame exactly
        env = gym.make("worldsim/Voxel-v0")
        obs, info = env.reset(seed=meta["seed"])
        replay = [obs] + [env.step(a)[0] for a in ep.actions]
        assert np.array_equal(np.stack(replay), frames)
        np.testing.assert_allclose(ep.infos["position"][0], info["position"])


def test_same_recipe_same_episodes_whatever_the_process_layout(tmp_path):
    """Episodes go to whichever env is free first, so which process plays which episode depends on timing; each
    episode's seed fixes its world, its policy and the policy's randomness, so the recording does not."""

    def by_index(layout: dict, root) -> dict:
        cfg = small_cfg(root, episodes=5, policies={"explorer": 0.5, "random": 0.5}, **layout)
        record(cfg)
        ds = open_dataset(cfg.dataset_id, root=root)
        metas = ds.storage.get_episode_metadata(ds.episode_indices)
        return {m["recipe_index"]: (m["policy"], ep) for m, ep in zip(metas, ds.iterate_episodes())}

    one = by_index({"processes": 1, "envs_per_process": 1}, tmp_path / "one")
    two = by_index({"processes": 2, "envs_per_process": 2}, tmp_path / "two")
    assert sorted(one) == sorted(two) == list(range(5))
    assert {p for p, _ in one.values()} == {"explorer", "random"}
    for i in one:
        (pa, a), (pb, b) = one[i], two[i]
        assert pa == pb
        assert np.array_equal(a.actions, b.actions)
        assert np.array_equal(a.observations, b.observations)


def test_held_out_episodes_by_policy(tmp_path):
    cfg = small_cfg(tmp_path, episodes=4, policies={"explorer": 0.5, "random": 0.5})
    record(cfg)
    ds = open_dataset(cfg.dataset_id, root=tmp_path)
    by_policy = {m["policy"] for m in ds.storage.get_episode_metadata(ds.episode_indices)}
    everything = load_held_out(cfg.dataset_id, tmp_path, 0.5, 0)
    assert everything.num_episodes == 2
    counts = {}
    for policy in by_policy:
        try:
            counts[policy] = load_held_out(cfg.dataset_id, tmp_path, 0.5, 0, policy=policy).num_episodes
        except ValueError as err:  # a policy that played none of the held-out episodes
            assert "no held-out episode" in str(err)
    assert sum(counts.values()) == 2
    with pytest.raises(ValueError, match="policy 'nobody'"):
        load_held_out(cfg.dataset_id, tmp_path, 0.5, 0, policy="nobody")


def test_episode_plan_is_fixed_by_seed():
    cfg = RecordConfig(episodes=50, policies={"explorer": 0.8, "random": 0.2})
    a, b = episode_plan(cfg), episode_plan(cfg)
    assert a == b
    share = np.mean([p == "explorer" for _, _, p in a])
    assert 0.6 < share < 0.95
    with pytest.raises(ValueError, match="weights"):
        episode_plan(RecordConfig(policies={"random": -1}))


def test_resume_skips_recorded_episodes(tmp_path):
    cfg = small_cfg(tmp_path, episodes=2)
    record(cfg)
    cfg.episodes = 3
    summary = record(cfg)
    assert summary["skipped"] == 2 and summary["episodes"] == 1
    assert len(open_dataset(cfg.dataset_id, root=tmp_path)) == 3


def test_resume_in_a_relative_root(tmp_path, monkeypatch):
    """`worldsim record root=data/minari` (relative, the default) adds episodes to a dataset it recorded before."""
    monkeypatch.chdir(tmp_path)
    cfg = small_cfg("rel", episodes=2)
    record(cfg)
    cfg.episodes = 3
    assert record(cfg)["episodes"] == 1
    assert len(open_dataset(cfg.dataset_id, root="rel")) == 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_recording_stays_loadable(tmp_path, sig):
    args = ["episodes=200", "max_episode_steps=40", "processes=2", "envs_per_process=1", f"root={tmp_path}",
            "dataset_id=test/stop-v0", "progress=false", "flush_every=1"]  # fmt: skip
    cmd = [sys.executable, "-m", "worldsim.cli", "record", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    meta = tmp_path / "test" / "stop-v0" / "data" / "metadata.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if meta.exists():
            try:
                if json.loads(meta.read_text()).get("total_episodes", 0) >= 2:
                    break
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    ds = open_dataset("test/stop-v0", root=tmp_path)
    if sig == signal.SIGKILL:  # no goodbye: what was written stays loadable
        assert proc.returncode == -signal.SIGKILL and 2 <= len(ds) < 200
    else:
        assert proc.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["interrupted"] and 2 <= summary["episodes"] < 200
        assert len(ds) == summary["episodes"]
    store = load_frames(ds)
    assert np.all(np.diff(store.ep_start) == 41)  # every episode complete: 40 steps, 41 frames


def test_record_non_image_env_from_render_with_resize(tmp_path):
    cfg = small_cfg(tmp_path, env_id="CartPole-v1", episodes=2, max_episode_steps=10, dataset_id="test/cartpole-v0",
                    policies={"random": 1.0}, resize=[32, 48])  # fmt: skip
    record(cfg)
    ds = open_dataset(cfg.dataset_id, root=tmp_path)
    frames = np.asarray(next(ds.iterate_episodes()).observations)
    assert frames.shape[1:] == (32, 48, 3) and frames.dtype == np.uint8 and frames.std() > 0


class NoPixels(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)


def test_env_without_images_or_rgb_render_is_refused():
    gym.register("test/NoPixels-v0", entry_point=NoPixels)
    with pytest.raises(ValueError, match="not images.*rgb_array"):
        make_recording_env("test/NoPixels-v0")


def test_bad_dataset_ids_and_missing_datasets(tmp_path):
    with pytest.raises(ValueError, match="Malformed dataset ID"):
        record(small_cfg(tmp_path, dataset_id="x/bad id"))
    with pytest.raises(ValueError, match="'test/voxel' has no version: .* e.g. test/voxel-v0"):
        record(small_cfg(tmp_path, dataset_id="test/voxel"))
    with pytest.raises(FileNotFoundError, match="no Minari dataset"):
        open_dataset("test/missing-v0", root=tmp_path)


def test_recording_into_a_dataset_of_another_shape_is_refused(tmp_path):
    record(small_cfg(tmp_path, episodes=1))
    with pytest.raises(ValueError, match="holds observations"):
        record(small_cfg(tmp_path, episodes=2, env_kwargs={"width": 32, "height": 32}))


def test_dataset_names_the_env_as_recorded(tmp_path):
    """The dataset's env spec carries the keyword arguments and episode limit it was recorded with, so the env
    it names makes the same frames (replaying an episode from its seed)."""
    cfg = small_cfg(tmp_path, episodes=1, processes=1, max_episode_steps=5, env_kwargs={"width": 32, "height": 24})
    record(cfg)
    ds = open_dataset(cfg.dataset_id, root=tmp_path)
    spec = ds.spec.env_spec
    assert spec.kwargs == {"width": 32, "height": 24} and spec.max_episode_steps == 5
    ep = next(iter(ds.iterate_episodes()))
    env = gym.make(spec)
    obs, _ = env.reset(seed=0)
    assert np.array_equal(np.stack([obs] + [env.step(a)[0] for a in ep.actions]), np.asarray(ep.observations))


def test_corrupt_dataset_metadata_gives_a_clear_error(tmp_path):
    cfg = small_cfg(tmp_path, episodes=1)
    record(cfg)
    meta = tmp_path / "test" / "voxel-v0" / "data" / "metadata.json"
    from worldsim.data.guard import BACKUP

    meta.write_text(meta.read_text()[:20])
    assert len(open_dataset(cfg.dataset_id, root=tmp_path)) == 1  # rebuilt from the recorder's copy
    meta.write_text(meta.read_text()[:20])
    os.remove(meta.parent / BACKUP)  # and with no copy to rebuild from: a clear error
    with pytest.raises(ValueError, match="corrupt or unreadable: its metadata is unreadable and it has no copy"):
        open_dataset(cfg.dataset_id, root=tmp_path)


def by_seed(cfg) -> dict:
    """{seed: (frames, actions, policy)} of a dataset: its content whatever the order episodes were written in."""
    ds = open_dataset(cfg.dataset_id, root=cfg.root)
    metas = list(ds.storage.get_episode_metadata(ds.episode_indices))
    return {int(m["seed"]): (ep.observations, ep.actions, m["policy"]) for m, ep in zip(metas, ds.iterate_episodes())}


def same_content(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[s][0], b[s][0]) and np.array_equal(a[s][1], b[s][1]) and a[s][2] == b[s][2] for s in a
    )


def test_a_crash_left_dataset_is_repaired_and_resumes_to_the_uninterrupted_one(tmp_path):
    ref = small_cfg(tmp_path / "ref", episodes=4, processes=1)
    record(ref)
    cut = small_cfg(tmp_path / "cut", episodes=4, processes=1)
    record(cut)
    data = tmp_path / "cut" / "test" / "voxel-v0" / "data"
    (data / "metadata.json").write_text("")  # killed while Minari rewrote its metadata in place
    last = json.loads((data / "3" / "metadata.json").read_text())
    last.pop("policy")  # ... and before the recorder wrote episode 3's own metadata
    (data / "3" / "metadata.json").write_text(json.dumps(last))
    from worldsim.data.guard import BACKUP, recording_lock

    with recording_lock(cut.root, cut.dataset_id):  # a reader never repairs what a recorder is writing
        with pytest.raises(ValueError, match="corrupt or unreadable: dataset test/voxel-v0 .* is being recorded"):
            open_dataset(cut.dataset_id, root=cut.root)
    backup = (data / BACKUP).read_text()
    (data / BACKUP).unlink()
    with pytest.raises(ValueError, match="no copy"):  # nothing to rebuild from: refused, nothing deleted
        open_dataset(cut.dataset_id, root=cut.root)
    assert (data / "3").is_dir()
    (data / BACKUP).write_text(backup)
    assert len(open_dataset(cut.dataset_id, root=cut.root)) == 3  # a read repairs it (the unfinished episode goes)
    out = record(cut)  # then the recording resumes with the episode it lost
    assert out["skipped"] == 3 and out["episodes"] == 1
    assert same_content(by_seed(cut), by_seed(ref))


def test_one_recorder_per_dataset(tmp_path):
    from worldsim.data.guard import recording_lock

    cfg = small_cfg(tmp_path, episodes=1)
    with recording_lock(cfg.root, cfg.dataset_id):
        with pytest.raises(RuntimeError, match="is being recorded by worldsim record"):
            record(cfg)
    assert record(cfg)["episodes"] == 1  # the lock goes with its holder


@pytest.mark.slow
def test_recordings_killed_at_random_moments_resume_to_the_uninterrupted_dataset(tmp_path):
    import random

    ref = small_cfg(tmp_path / "ref", episodes=8, max_episode_steps=60, processes=1)
    record(ref)
    cut = small_cfg(tmp_path / "cut", episodes=8, max_episode_steps=60, processes=1)
    args = [sys.executable, "-m", "worldsim.cli", "record", "episodes=8", "max_episode_steps=60", "processes=1",
            f"root={cut.root}", f"dataset_id={cut.dataset_id}", "flush_every=1", "progress=false"]  # fmt: skip
    rng = random.Random(0)
    for _ in range(6):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(1.5, 4.0))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    record(cut)
    assert same_content(by_seed(cut), by_seed(ref))


def test_a_policy_that_cannot_drive_the_env_is_refused_before_recording(tmp_path):
    cfg = small_cfg(tmp_path, env_id="CartPole-v1", resize=[16, 16], policies={"explorer": 1.0})
    with pytest.raises(ValueError, match="policy 'explorer' cannot record CartPole-v1: ExplorerPolicy drives"):
        record(cfg)
    assert not (tmp_path / "test").exists()  # nothing was written


def test_a_failing_worker_makes_the_recording_fail_with_its_error(tmp_path, monkeypatch):
    from worldsim.data import record_worker

    def broken(rank, cfg, *args):  # the worker process raises from inside the playing loop
        raise RuntimeError("the env broke down")

    monkeypatch.setattr(record_worker, "_play", broken)  # forked workers inherit the patch
    with pytest.raises(RuntimeError, match="(?s)worker 0 failed .*RuntimeError: the env broke down"):
        record(small_cfg(tmp_path, processes=1))


def test_an_env_registered_by_the_users_own_module(tmp_path, monkeypatch):
    """Gymnasium's ``module:Env-vN`` form: the module is imported (registering the env) before anything is played."""
    (tmp_path / "userworld.py").write_text(
        "import gymnasium as gym, numpy as np\n"
        "class Blink(gym.Env):\n"
        "    metadata = {'render_modes': []}\n"
        "    def __init__(self):\n"
        "        self.observation_space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)\n"
        "        self.action_space = gym.spaces.Discrete(3)\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        super().reset(seed=seed)\n"
        "        return np.zeros((16, 16, 3), np.uint8), {}\n"
        "    def step(self, a):\n"
        "        return np.full((16, 16, 3), 40 * int(a), np.uint8), float(a == 1), False, False, {}\n"
        "gym.register('userworld/Blink-v0', entry_point='userworld:Blink', max_episode_steps=12)\n"
        "gym.register('userworld/Callable-v0', entry_point=Blink)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = small_cfg(tmp_path, env_id="userworld:userworld/Blink-v0", policies={"random": 1.0}, episodes=2,
                    max_episode_steps=None)  # fmt: skip
    out = record(cfg)
    assert out["episodes"] == 2 and out["frames"] == 24
    ds = open_dataset(cfg.dataset_id, root=cfg.root)
    assert ds.spec.env_spec.id == "userworld/Blink-v0" and ds.spec.env_spec.max_episode_steps == 12
    with pytest.raises(ValueError, match="Register it with a string entry point"):
        record(small_cfg(tmp_path, env_id="userworld/Callable-v0", policies={"random": 1.0}))
    with pytest.raises(ValueError, match="cannot import module 'nosuchmodule'"):
        record(small_cfg(tmp_path, env_id="nosuchmodule:x/Y-v0", policies={"random": 1.0}))


def test_resuming_a_parquet_recording_keeps_every_episode(tmp_path):
    cfg = small_cfg(tmp_path, episodes=2, processes=1, data_format="parquet")
    record(cfg)
    record(small_cfg(tmp_path, episodes=3, processes=1, data_format="parquet"))  # resume: one more episode
    ds = open_dataset(cfg.dataset_id, root=cfg.root)
    assert ds.total_episodes == 3 and sorted(m["seed"] for m in ds.storage.get_episode_metadata(range(3))) == [0, 1, 2]


@pytest.mark.timeout(120)
def test_recording_with_a_trained_sb3_policy(tmp_path):
    """A PPO .zip records like the scripted policies (its check in the parent starts torch's thread pool: forked
    workers hung on their first torch call; such recordings spawn their workers)."""
    from stable_baselines3 import PPO

    env = gym.make("worldsim/Voxel-v0", max_episode_steps=8)
    agent = PPO("CnnPolicy", env, n_steps=8, batch_size=8, seed=0, device="cpu")
    agent.learn(8)  # torch has run in this process, as it has in `worldsim ppo` before it records
    agent.save(tmp_path / "agent.zip")
    with pytest.warns(UserWarning, match="unpickles"):
        summary = record(small_cfg(tmp_path, episodes=2, max_episode_steps=8, processes=1,
                                   policies={str(tmp_path / "agent.zip"): 1.0}))  # fmt: skip
    assert summary["episodes"] == 2 and not summary["interrupted"]
    metas = list(open_dataset("test/voxel-v0", root=tmp_path).storage.get_episode_metadata([0, 1]))
    assert {m["policy"] for m in metas} == {str(tmp_path / "agent.zip")}
