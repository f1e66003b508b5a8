"""`worldsim play`: play the dream (and the real world) in a pygame window.

    worldsim play                          # side by side: real | dream, the same actions drive both
    worldsim play mode=dream model=runs/dit-voxel scale=8

Controls: WASD move, mouse or arrow keys look, space jump, left click break, right click place.
Tab cycles the view (side by side -> dream -> real), R restarts both from a new real clip, P pauses, C hands
control to the explorer policy and takes it back, +/- change the sampler's step count (speed against quality),
V starts and stops recording (mp4 under outputs/play), Esc quits. The HUD shows frames/s, step, reward, view,
controller and sampler steps. The loop runs as fast as the dream can, up to ``fps`` (no fixed sleep).

``script`` (a list of ``[frame, key]`` pairs) and ``max_frames`` drive it without a person, as the tests do with
SDL_VIDEODRIVER=dummy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import worldsim  # noqa: F401
from worldsim.policies import ExplorerPolicy, HumanPolicy
from worldsim.utils.media import write_video

VIEWS = ("side", "dream", "real")


class Session:
    """The real world and the dream, kept in step, with whoever is in control."""

    def __init__(self, model: str, seed: int, sampler_steps: int | None, device: str = "cpu",
                 dtype: str | None = None, compile: bool = False):  # fmt: skip
        from worldsim.envs.world_model_env import WorldModelEnv

        self.dream = WorldModelEnv(model, sampler_steps=sampler_steps, device=device, dtype=dtype, compile=compile)
        h, w, _ = self.dream.observation_space.shape
        from worldsim.envs import make_env, real_env_of

        self.real = make_env(real_env_of(self.dream.wm), (h, w, 3))
        self.explorer = ExplorerPolicy(self.real.action_space, seed=seed)
        self.seed = seed
        self.restart()

    def restart(self) -> None:
        """Play the real world for a moment with the explorer and start the dream from that clip."""
        obs, self.info = self.real.reset(seed=self.seed)
        self.explorer.reset()
        ctx = self.dream.sampler.cfg.context
        frames, actions = [obs], []
        for _ in range(ctx - 1):
            a = self.explorer.act_single(obs, self.info)
            obs, _, _, _, self.info = self.real.step(a)
            frames.append(obs)
            actions.append(a)
        self.real_obs = obs
        self.dream_obs, _ = self.dream.reset(
            seed=self.seed, options={"frames": np.stack(frames), "actions": np.stack(actions)}
        )
        self.seed += 1
        self.step_count, self.reward = 0, 0.0

    def step(self, action: np.ndarray, view: str) -> None:
        if view in ("side", "real"):
            self.real_obs, _, term, trunc, self.info = self.real.step(action)
            if term or trunc:
                self.restart()
                return
        if view in ("side", "dream"):
            self.dream_obs, r, term, trunc, _ = self.dream.step(action)
            self.reward += r
            if term or trunc:
                self.restart()
                return
        self.step_count += 1


def _panel(pygame, frame: np.ndarray, scale: int):
    surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
    return pygame.transform.scale(surf, (frame.shape[1] * scale, frame.shape[0] * scale))


def play(model: str = "voxel", mode: str = "side", scale: int = 8, fps: int = 20, seed: int = 0,
         sampler_steps: int | None = None, script: list | None = None, max_frames: int | None = None,
         record_dir: str = "outputs/play", device: str = "cpu", dtype: str | None = None,
         compile: bool = False) -> dict:  # fmt: skip
    import pygame

    if mode not in VIEWS:
        raise ValueError(f"mode must be one of {VIEWS}, got {mode!r}")
    session = Session(model, seed, sampler_steps, device, dtype, compile)
    human = HumanPolicy(session.real.action_space)
    view, paused, autopilot, recording = mode, False, False, None
    h, w, _ = session.dream.observation_space.shape
    pygame.init()
    screen = pygame.display.set_mode((2 * w * scale + 8, h * scale + 28))
    pygame.display.set_caption("worldsim play")
    font = pygame.font.Font(None, 20)
    clock = pygame.time.Clock()
    script = {int(f): str(k) for f, k in (script or [])}
    frame_no, running, t_last, shown_fps, saved = 0, True, time.perf_counter(), 0.0, []
    while running and (max_frames is None or frame_no < max_frames):
        if frame_no in script:  # scripted input, as if typed
            key = pygame.key.key_code(script[frame_no])
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
            pygame.event.post(pygame.event.Event(pygame.KEYUP, key=key, mod=0, unicode="", scancode=0))
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                running = False
            elif event.type == pygame.KEYDOWN:
                name = pygame.key.name(event.key)
                if name == "escape":
                    running = False
                elif name == "tab":
                    view = VIEWS[(VIEWS.index(view) + 1) % len(VIEWS)]
                elif name == "r":
                    session.restart()
                elif name == "p":
                    paused = not paused
                elif name == "c":
                    autopilot = not autopilot
                    session.explorer.reset()
                elif name in ("+", "=", "-"):
                    cfg = session.dream.sampler.cfg
                    cfg.steps = int(np.clip(cfg.steps + (-1 if name == "-" else 1), 1, 8))
                elif name == "v":
                    if recording is None:
                        recording = []
                    else:
                        saved.append(_save(recording, record_dir, fps))
                        recording = None
            human.handle_event(event)
        if not paused:
            obs, info = (session.real_obs, session.info) if view != "dream" else (session.dream_obs, {})
            action = session.explorer.act_single(obs, info) if autopilot else human.act(obs[None])[0]
            session.step(action, view)
        now = time.perf_counter()
        shown_fps = 0.9 * shown_fps + 0.1 / max(now - t_last, 1e-6)
        t_last = now
        panels = {"real": session.real_obs, "dream": session.dream_obs}
        screen.fill((20, 20, 20))
        shown = ["real", "dream"] if view == "side" else [view]
        for k, name in enumerate(shown):
            screen.blit(_panel(pygame, panels[name], scale), (k * (w * scale + 8), 28))
        if recording is not None:
            recording.append(np.concatenate([panels[n] for n in shown], axis=1))
        hud = (f"{shown_fps:5.1f} fps  step {session.step_count}  reward {session.reward:+.2f}  view {view}  "
               f"{'explorer' if autopilot else 'you'}  sampler steps {session.dream.sampler.cfg.steps}"
               f"{'  PAUSED' if paused else ''}{'  REC' if recording is not None else ''}")  # fmt: skip
        screen.blit(font.render(hud, True, (235, 235, 235)), (6, 6))
        pygame.display.flip()
        clock.tick(fps)  # waits only for what is left of the frame's time: no sleep when the dream is slower
        frame_no += 1
    if recording:
        saved.append(_save(recording, record_dir, fps))
    pygame.quit()
    return {"play": "done", "frames": frame_no, "steps": session.step_count, "view": view,
            "sampler_steps": session.dream.sampler.cfg.steps, "autopilot": autopilot, "recordings": saved}  # fmt: skip


def _save(frames: list, folder: str, fps: int) -> str:
    path = Path(folder) / time.strftime("play-%Y%m%d-%H%M%S.mp4")
    return str(write_video(path, np.stack(frames), fps=fps, scale=4))
