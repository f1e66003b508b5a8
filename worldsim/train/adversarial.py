"""An adversarial term for the DiT's frame predictions (`worldsim train adversarial.weight=...`, off by default).

Why: a dream step's first pass starts from pure noise, and a squared-error loss makes that pass the *mean* of the
possible next frames. Where the next frame is not fully determined (a sub-pixel step, the strip a turn brings into
view) the mean is a blur, the next step reads it as the world, and every dream fades (issue 16). An adversarial
loss, the remedy of adversarial post-training for real-time video generators, asks instead for a frame that a
critic cannot tell from a real one.

What: a small convolutional critic on latents judges a frame given the clean latent of the frame before it (so it
judges the transition, not the frame alone). Its real examples are the window's real latents; its fakes are the
DiT's predicted clean latents ``x0_hat = x_t - t v`` of target frames at noise levels of at least ``min_t`` (the
passes that decide a few-step dream's content), under real context, or under the model's own rollout in a
``rollout_prob`` batch. Hinge losses, spectral norm in the critic; the DiT's term ramps up over ``warmup`` steps
while the critic learns first. The flow loss stays: it keeps the prediction on the real frame; the critic only
pulls it off the blurred mean toward a frame that looks real.

The critic and its optimizer travel in the run's train state (``adv.*``, ``adv_opt.*``): a resumed run goes on
exactly as one that never stopped. Under torchrun each rank trains its own critic on its own batches (the DiT's
gradients are averaged as ever); rank 0's is saved, and every rank resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class AdversarialConfig:
    weight: float = 0.0  # the DiT's adversarial term's weight (0: off; the flow loss is ~0.25 for the voxel model)
    min_t: float = 0.5  # frames whose noise level is at least this are judged (the first pass of a dream step: 1)
    lr: float = 1e-3  # the critic's learning rate (Adam, betas 0.0 / 0.99; at 2e-4 it told nothing apart in 215 steps)
    warmup: int = 200  # steps over which the DiT's term ramps up from 0 (the critic trains from the first)
    width: int = 64  # the critic's channels

    def __post_init__(self):
        if not self.weight >= 0:
            raise ValueError(f"adversarial.weight must be >= 0, got {self.weight!r}")
        if not 0.0 <= self.min_t <= 1.0:
            raise ValueError(f"adversarial.min_t must be in [0, 1], got {self.min_t!r}")
        if not self.lr > 0 or self.warmup < 0 or self.width < 1:
            raise ValueError(f"adversarial: lr > 0, warmup >= 0 and width >= 1, got lr={self.lr!r}, "
                             f"warmup={self.warmup!r}, width={self.width!r}")  # fmt: skip


class LatentCritic(nn.Module):
    """A latent frame (B, C, h, w) and the latent before it -> a realness score (B,)."""

    def __init__(self, channels: int, width: int = 64):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(2 * channels, w, 3, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * w, 2 * w, 3, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * w, 1, 3, padding=1)),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([x, prev], dim=1)).mean(dim=(1, 2, 3))


class Adversary:
    """The critic, its optimizer and the two losses; ``outputs`` is what ``diffusion_loss(..., outputs=...)``
    filled in: ``x0_hat``, ``x0`` (B, T, C, h, w), ``t`` and ``target`` (B, T)."""

    def __init__(self, channels: int, cfg: AdversarialConfig, device):
        self.cfg = cfg
        self.critic = LatentCritic(channels, cfg.width).to(device)
        self.opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, betas=(0.0, 0.99))

    def _judged(self, outputs: dict):
        """(fake, real, prev) of the judged frames: targets at t >= min_t with a frame before them (picked once per
        batch: the DiT's term and the critic's step judge the same frames)."""
        if "judged" not in outputs:
            pick = outputs["target"] & (outputs["t"] >= self.cfg.min_t)
            pick[:, 0] = False
            x0 = outputs["x0"]
            outputs["judged"] = (outputs["x0_hat"][pick], x0[:, 1:][pick[:, 1:]], x0[:, :-1][pick[:, 1:]])
        return outputs["judged"]

    def generator_loss(self, outputs: dict, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(the DiT's adversarial term, already weighted and ramped; its unweighted value, for the log)."""
        fake, _, prev = self._judged(outputs)
        if len(fake) == 0:
            zero = outputs["x0_hat"].sum() * 0.0
            return zero, zero.detach()
        self.critic.requires_grad_(False)
        g = -self.critic(fake.float(), prev.float()).mean()
        self.critic.requires_grad_(True)
        ramp = min(1.0, step / self.cfg.warmup) if self.cfg.warmup else 1.0
        return self.cfg.weight * ramp * g, g.detach()

    def critic_step(self, outputs: dict) -> dict[str, torch.Tensor]:
        """One hinge-loss step of the critic on this batch's judged frames; its logs."""
        fake, real, prev = (x.detach().float() for x in self._judged(outputs))
        if len(fake) == 0:
            return {}
        s_real, s_fake = self.critic(real, prev), self.critic(fake, prev)
        loss = F.relu(1 - s_real).mean() + F.relu(1 + s_fake).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        contrast = fake.std(dim=(2, 3)).mean() / real.std(dim=(2, 3)).mean().clamp_min(1e-6)  # < 1: blurred
        return {"critic": loss.detach(), "critic_gap": (s_real.mean() - s_fake.mean()).detach(),
                "judged_contrast": contrast.detach()}  # fmt: skip

    def tensors(self) -> dict[str, torch.Tensor]:
        """The critic and its optimizer's state as flat tensors (``adv.*``, ``adv_opt.*``) for a train state."""
        out = {f"adv.{k}": v for k, v in self.critic.state_dict().items()}
        for i, p in enumerate(self.critic.parameters()):
            for k, v in self.opt.state.get(p, {}).items():
                out[f"adv_opt.{i}.{k}"] = torch.as_tensor(v)
        return out

    def load(self, raw: dict[str, torch.Tensor]) -> bool:
        """The critic and its optimizer from a train state's tensors; False where it holds none (a run that was
        started without a critic: this one starts fresh)."""
        state = {k[len("adv.") :]: v for k, v in raw.items() if k.startswith("adv.")}
        if not state:
            return False
        self.critic.load_state_dict(state)
        for i, p in enumerate(self.critic.parameters()):
            saved = {k.split(".", 2)[2]: v for k, v in raw.items() if k.startswith(f"adv_opt.{i}.")}
            if saved:
                self.opt.state[p] = {k: v.to(p.device) if k != "step" else v.cpu() for k, v in saved.items()}
        return True
