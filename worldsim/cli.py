"""`worldsim <command> [key=value ...]`: every entry point, configured by Hydra-style overrides.

    worldsim demo steps=300          # the explorer plays the voxel world; video + contact sheet in outputs/
    worldsim record episodes=20      # record play as a Minari dataset under data/minari/
    worldsim bench env steps=5000    # env steps/s (one JSON object on the last line)

Each command composes `worldsim/configs/<command>.yaml` with the overrides; `worldsim <command> --cfg` prints
the composed config instead of running, `worldsim <command> --help` the command's settings with their comments and
defaults. An override of the wrong type (``episodes=abc``, ``max_minutes=soon``) is refused by name before anything
runs; bad input found later (a missing dataset, a checkpoint of another model) ends the command with one line
naming it (``WORLDSIM_TRACEBACK=1`` shows the traceback too). ``--import MODULE`` imports a module that registers
your envs first, so that their ids work as they are: ``worldsim --import mypkg.envs record env_id=MyEnv-v0``.
"""

from __future__ import annotations

import json
import os
import sys

from omegaconf import DictConfig, OmegaConf

COMMANDS = {
    "demo": "the explorer plays the voxel world: video and contact sheet under outputs/",
    "record": "record play of a Gymnasium env as a Minari dataset (default: the voxel recipe)",
    "train-vae": "train the per-frame VAE on a recorded dataset (resumes from its run_dir)",
    "encode": "encode a dataset with a trained VAE into the latent cache the DiT trains on",
    "train": "train the action-conditioned DiT on the latent cache (resumes; torchrun for data-parallel)",
    "export": "make a shippable world-model folder from a DiT run (fp16 + held-out start clips)",
    "play": "play the dream and the real world in a pygame window (keyboard and mouse)",
    "evaluate": "score a policy in the real world and in the dream: mean return, 95% CI, the gap",
    "ppo": "train PPO inside the dream, evaluate it in the real world against random and real-trained PPO",
    "eval": "fidelity of a world model against held-out real play, with baselines (JSON + PNG plot)",
    "bench": "benchmarks: `bench env`, `bench record`, `bench vae`, `bench sampler`, `bench dream`, `bench soak`",
    "train-idm": "train the inverse-dynamics model (two frames -> the action) the report card reads dreams with",
    "train-reward": "train the reward model (two frames and the action -> the reward) dreams are paid by",
    "report": "the world-model report card: horizon, long rollouts, standing still, action following, memory, rewards",
    "select": "score a training run's snapshots with the report card and pick the one to ship",
    "gpu-run": "the prepared one-shot GPU run: record, encode, train to a time budget, export, score, bench",
}


def compose(config_name: str, overrides: list[str]) -> DictConfig:
    """The named config from worldsim/configs with Hydra overrides applied."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="worldsim.configs", version_base=None):
        return hydra_compose(config_name=config_name, overrides=overrides)


def _print_json(result: dict) -> None:
    print(json.dumps(result), flush=True)


def checked(config):
    """``config`` (a dataclass) once every field has its annotated type (``worldsim.utils.typed``)."""
    from worldsim.utils.typed import check_config

    check_config(config)
    return config


def cmd_demo(cfg: DictConfig) -> dict:
    from worldsim.demo import run_demo

    return run_demo(**OmegaConf.to_container(cfg, resolve=True))


def cmd_bench(cfg: DictConfig) -> dict:
    from worldsim.eval import speed

    if cfg.what == "env":
        kwargs = OmegaConf.to_container(cfg.env_kwargs, resolve=True) if cfg.env_kwargs else {}
        return speed.bench_env(cfg.env_id, steps=cfg.steps, seed=cfg.seed, **kwargs)
    if cfg.what == "record":
        return speed.bench_record(**OmegaConf.to_container(cfg.record, resolve=True))
    if cfg.what == "vae":
        return speed.bench_vae(cfg.model, threads=cfg.threads)
    if cfg.what == "sampler":
        return speed.bench_sampler(cfg.model, cfg.preset, list(cfg.steps_list), threads=cfg.threads, device=cfg.device,
                                   dtype=cfg.dtype, compile=cfg.compile,
                                   batches=list(cfg.batches) if cfg.batches else None)  # fmt: skip
    if cfg.what == "dream":
        return speed.bench_dream(cfg.model, cfg.num_envs, threads=cfg.threads, device=cfg.device, dtype=cfg.dtype,
                                 compile=cfg.compile, std_floor=cfg.std_floor, mean_band=cfg.mean_band,
                                 memory=cfg.get("memory"))  # fmt: skip
    if cfg.what == "soak":
        from worldsim.eval.soak import soak

        return soak(cfg.model, cfg.soak.steps, cfg.soak.num_envs, cfg.soak.env_steps, seed=cfg.seed,
                    threads=cfg.threads, std_floor=cfg.std_floor, mean_band=cfg.mean_band,
                    memory=cfg.get("memory"), sheet=cfg.soak.get("sheet"))  # fmt: skip
    raise SystemExit(
        f"worldsim bench: unknown benchmark {cfg.what!r}; choose from: env, record, vae, sampler, dream, soak"
    )


def cmd_record(cfg: DictConfig) -> dict:
    from worldsim.data.record import RecordConfig, record

    return record(checked(RecordConfig(**OmegaConf.to_container(cfg, resolve=True))))


def cmd_train_vae(cfg: DictConfig) -> dict:
    from worldsim.models.vae import VAEConfig
    from worldsim.train.train_vae import TrainVAEConfig, train_vae

    fields = OmegaConf.to_container(cfg, resolve=True)
    if fields["arch"].get("resolution") is None:  # the frame size of the dataset's observations
        from worldsim.data.dataset import open_dataset

        shape = open_dataset(fields["dataset_id"], root=fields["root"]).observation_space.shape
        fields["arch"]["resolution"] = [int(shape[0]), int(shape[1])]
    fields["arch"] = VAEConfig(**fields["arch"])
    return train_vae(checked(TrainVAEConfig(**fields)))


def cmd_encode(cfg: DictConfig) -> dict:
    from worldsim.data.latents import build_latent_cache

    return build_latent_cache(**OmegaConf.to_container(cfg, resolve=True))


def cmd_train(cfg: DictConfig) -> dict:
    from worldsim.diffusion import DiffusionConfig
    from worldsim.sampler import SamplerConfig
    from worldsim.train.adversarial import AdversarialConfig
    from worldsim.train.train_dit import TrainDiTConfig, train_dit

    fields = OmegaConf.to_container(cfg, resolve=True)
    fields["diffusion"] = DiffusionConfig(**fields["diffusion"])
    fields["sampler"] = SamplerConfig(**fields["sampler"])
    fields["adversarial"] = AdversarialConfig(**fields["adversarial"])
    return train_dit(checked(TrainDiTConfig(**fields)))


def cmd_eval(cfg: DictConfig) -> dict:
    from worldsim.eval.fidelity import evaluate_fidelity

    return evaluate_fidelity(**OmegaConf.to_container(cfg, resolve=True))


def cmd_play(cfg: DictConfig) -> dict:
    from worldsim.play import play

    return play(**OmegaConf.to_container(cfg, resolve=True))


def cmd_evaluate(cfg: DictConfig) -> dict:
    from worldsim.eval.policy import evaluate_policy

    return evaluate_policy(**OmegaConf.to_container(cfg, resolve=True))


def cmd_ppo(cfg: DictConfig) -> dict:
    from worldsim.train.ppo import ppo_in_dream

    return ppo_in_dream(**OmegaConf.to_container(cfg, resolve=True))


def cmd_export(cfg: DictConfig) -> dict:
    from worldsim.export import export_world_model

    return export_world_model(**OmegaConf.to_container(cfg, resolve=True))


def cmd_train_idm(cfg: DictConfig) -> dict:
    from worldsim.train.train_idm import TrainIDMConfig, train_idm

    return train_idm(checked(TrainIDMConfig(**OmegaConf.to_container(cfg, resolve=True))))


def cmd_train_reward(cfg: DictConfig) -> dict:
    from worldsim.train.train_reward import TrainRewardConfig, train_reward

    return train_reward(checked(TrainRewardConfig(**OmegaConf.to_container(cfg, resolve=True))))


def cmd_report(cfg: DictConfig) -> dict:
    from worldsim.eval.report import report

    return report(**OmegaConf.to_container(cfg, resolve=True))


def cmd_select(cfg: DictConfig) -> dict:
    from worldsim.eval.select import select

    return select(**OmegaConf.to_container(cfg, resolve=True))


def cmd_gpu_run(cfg: DictConfig) -> dict:
    from worldsim.train.gpu_run import GpuRunConfig, gpu_run

    return gpu_run(checked(GpuRunConfig(**OmegaConf.to_container(cfg, resolve=True))))


HANDLERS = {
    "demo": cmd_demo,
    "record": cmd_record,
    "train-vae": cmd_train_vae,
    "encode": cmd_encode,
    "train": cmd_train,
    "eval": cmd_eval,
    "play": cmd_play,
    "evaluate": cmd_evaluate,
    "ppo": cmd_ppo,
    "export": cmd_export,
    "bench": cmd_bench,
    "train-idm": cmd_train_idm,
    "train-reward": cmd_train_reward,
    "report": cmd_report,
    "select": cmd_select,
    "gpu-run": cmd_gpu_run,
}


def usage() -> str:
    lines = ["usage: worldsim <command> [key=value ...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def check_types(cfg, base, command: str, prefix: str = "") -> str | None:
    """The first override whose type differs from its default's (bool, int, float, list, section), as a message."""
    from omegaconf import ListConfig

    names = {bool: "true or false", int: "an integer", float: "a number", list: "a list", dict: "a section"}
    for key in base:
        if key not in cfg:
            continue
        b, v = base[key], cfg[key]
        if isinstance(b, DictConfig):
            if not isinstance(v, DictConfig):
                return f"{prefix}{key} must be a section of settings, got {v!r}"
            msg = check_types(v, b, command, f"{prefix}{key}.")
            if msg:
                return msg
            continue
        if b is None or v is None:
            continue
        kind = bool if isinstance(b, bool) else int if isinstance(b, int) else float if isinstance(b, float) else (
            list if isinstance(b, ListConfig) else None)  # fmt: skip
        ok = {
            bool: isinstance(v, bool),
            int: isinstance(v, int) and not isinstance(v, bool),
            float: isinstance(v, (int, float)) and not isinstance(v, bool),
            list: isinstance(v, ListConfig),
            None: True,
        }[kind]
        if not ok:
            return f"{prefix}{key} must be {names[kind]} (default {b!r}), got {v!r}"
    return None


def command_help(command: str) -> str:
    """The command's one-line summary and its config file: every setting with its comment and default."""
    from importlib.resources import files

    text = files("worldsim.configs").joinpath(command.replace("-", "_") + ".yaml").read_text()
    return f"worldsim {command}: {COMMANDS[command]}\n\nusage: worldsim {command} [key=value ...]\n\n{text}"


def import_modules(argv: list[str]) -> list[str]:
    """``argv`` without its ``--import MODULE`` / ``--import=MODULE`` options, each module imported (a user's module
    that registers its envs, so that their bare ids work in every command, as ``module:Env-vN`` does for one id)."""
    import importlib

    rest, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--import" or arg.startswith("--import="):
            module = arg.split("=", 1)[1] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
            i += 1 if "=" in arg else 2
            if not module:
                raise ValueError("--import needs a module name: --import mypackage.envs")
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValueError(f"--import {module}: cannot import it ({exc})") from exc
            continue
        rest.append(arg)
        i += 1
    return rest


def _whole_section(base: DictConfig, override: str) -> bool:
    """Whether ``override`` (``key={...}``) gives a whole section whose default is a section too."""
    key, eq, value = override.partition("=")
    if not eq or not value.strip().startswith("{") or key.startswith(("+", "~")):
        return False
    return isinstance(OmegaConf.select(base, key, default=None), DictConfig)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    try:  # --import MODULE (any number, anywhere): a module that registers the user's envs, imported first
        argv = import_modules(argv)
    except ValueError as exc:
        print(f"worldsim: {exc}", file=sys.stderr)
        return 2
    if not argv:
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in HANDLERS:
        print(f"worldsim: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if "-h" in rest or "--help" in rest:
        print(command_help(command))
        return 0
    if command == "bench" and rest and "=" not in rest[0] and not rest[0].startswith("-"):
        rest = [f"what={rest[0]}", *rest[1:]]
    show_cfg = "--cfg" in rest
    if show_cfg:  # Hydra's form `--cfg job|hydra|all` too
        i = rest.index("--cfg")
        rest = rest[:i] + rest[i + 1 + (i + 1 < len(rest) and rest[i + 1] in ("job", "hydra", "all")) :]
    try:
        base = compose(command.replace("-", "_"), [])
        # a section given whole (policies={random:1.0}, env_kwargs={height:48}) replaces the default one instead of
        # merging into it (which Hydra refuses for new keys, and which would keep the default mix of policies)
        rest = [x for r in rest for x in (["~" + r.split("=", 1)[0], "+" + r] if _whole_section(base, r) else [r])]
        cfg = compose(command.replace("-", "_"), rest)
        bad = check_types(cfg, base, command)
    except Exception as exc:  # Hydra's errors name the bad override
        print(f"worldsim {command}: bad override: {exc}", file=sys.stderr)
        return 2
    if bad:
        print(f"worldsim {command}: {bad}", file=sys.stderr)
        return 2
    if show_cfg:
        print(OmegaConf.to_yaml(cfg))
        return 0
    try:
        result = HANDLERS[command](cfg)
    except (ValueError, TypeError, FileNotFoundError) as exc:  # bad input: one line naming it (and nothing lost)
        if os.environ.get("WORLDSIM_TRACEBACK"):
            raise
        print(f"worldsim {command}: {type(exc).__name__}: {exc}\n(WORLDSIM_TRACEBACK=1 shows where it came from)",
              file=sys.stderr)  # fmt: skip
        return 1
    _print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
