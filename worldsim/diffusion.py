"""The training objective: rectified flow with an independent noise level for every frame (diffusion forcing).

Noising: ``x_t = (1 - t) * x_0 + t * eps`` with ``t`` in [0, 1] (0 clean, 1 pure noise); the DiT predicts the
velocity ``v = eps - x_0``, so sampling integrates ``dx/dt = v`` from t = 1 down to 0 (Euler steps in
``sampler.py``).

Noise levels, per frame of a training window (diffusion forcing), in one of two patterns:
- *rollout* (probability ``prefix_prob``): the window is cut at a random frame k; frames before k are *context*,
  ``t ~ U[0, context_max_t]`` (the lightly noised history the sampler conditions on; its "stabilisation" level
  lies in that range), frames from k on are *targets*. This is exactly the situation of a dream step.
- *independent*: every frame is context with probability ``context_prob`` and a target otherwise.
A target's level is drawn from a mixture: with probability ``uniform_prob`` ``t ~ U[0, 1]``, else
``t = sigmoid(n)``, ``n ~ N(logit_mean, logit_std)`` (logit-normal, as in SD3). The uniform share keeps the ends of
[0, 1] trained, which a few-step sampler visits: it starts at t = 1 and commits at the context level. Then, with
probability ``one_prob``, a target's level is set to exactly 1, a frame from pure noise: the first pass of every
dream step. There the velocity loss is the squared error of the clean latent itself (``x0_hat = x_1 - v``), so
that pass is a regression onto the conditional mean of the next frame given the past and the action, which is what
decides a few-step dream's per-pixel accuracy (the later passes only sharpen it).
Because every frame has its own level and attention is causal, one window trains all three uses at once:
generating a first frame from nothing (no earlier frames), continuing a clip (earlier frames clean or lightly
noised), and denoising under noised context.

Previous-frame input (``DiTConfig.prev_frame``): with ``clean_prev`` every frame reads the *clean* latent of the
frame before it, noised only to a context level ``U[0, context_max_t]``, whatever level that frame itself has in
the window. That is what the sampler gives it (the newest committed latent), so every target trains in the exact
situation of a dream step; without it a target's neighbour is often itself a noisy target.

Blurred context (``context_blur_prob``, off by default): a few-step dream's frames are softer than the world's (in
latent space, the voxel model's dreamed frames keep 0.6-0.7 of a real frame's detail), and a model trained only on
real context reads its own softened frame as the world and draws the next one softer still: the fade compounds.
In that share of windows every context frame, and the previous-frame input, is mixed toward its own 3x3 spatial
blur (``x + s (blur(x) - x)``, one severity ``s ~ U[0, context_blur_max]`` per window; 1 keeps about a quarter of
the detail), while the targets stay the real frames: the model learns to draw the world's sharpness from softened
context, as a cascaded diffusion model learns to sharpen a blurred low-resolution input (Ho et al., 2021's
conditioning augmentation). It costs nothing per step; dreamed context (``rollout_prob``) is the real thing.

Loss: over the frames that are not context, the squared error the model's output head defines
(``worldsim/models/heads.py``: for the residual head the error of its own output, of one size at every noise
level, EDM's weighting; for a velocity head the velocity error). Context frames carry no loss (a velocity is
undefined as t -> 0: it would ask the network to recover noise it cannot see). Plus ``reward_weight`` times the
reward loss (the cross-entropy over the reward classes of a model with ``reward_values``, else the MSE) and
``termination_weight`` times the termination binary cross-entropy, on every transition in the window (the heads
read the frame the transition leads into, at whatever noise level it has).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class DiffusionConfig:
    logit_mean: float = 0.0  # logit-normal location of training noise levels
    logit_std: float = 1.0  # logit-normal scale
    context_prob: float = 0.3  # independent pattern: share of frames drawn as lightly noised context
    context_max_t: float = 0.1  # context frames get t ~ U[0, this]
    prefix_prob: float = 0.5  # share of windows in the rollout pattern (a context prefix, then targets)
    uniform_prob: float = 0.5  # share of target levels drawn uniformly from [0, 1] rather than logit-normal
    one_prob: float = 0.0  # share of target levels set to exactly 1 (the first pass of every dream step)
    clean_prev: bool = True  # the previous-frame input is the clean (context-noised) latent, as when sampling
    prev_t: float | None = None  # that input's noise level: None draws U[0, context_max_t]; a number fixes it
    context_blur_prob: float = 0.0  # share of windows whose context (and previous-frame input) is blurred
    context_blur_max: float = 1.0  # the most blur: x + s (blur3x3(x) - x), s ~ U[0, this] per window
    flow_weight: float = 1.0  # weight of the flow loss (0: train only the reward and termination heads' loss)
    reward_weight: float = 1.0  # weight of the reward loss (MSE, or cross-entropy over reward classes)
    termination_weight: float = 0.1  # weight of the termination BCE

    def __post_init__(self):
        if self.prev_t is not None and not 0.0 <= float(self.prev_t) < 1.0:
            raise ValueError(f"diffusion.prev_t must be in [0, 1) or null, got {self.prev_t!r}")
        for name in ("context_blur_prob", "context_blur_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"diffusion.{name} must be a number in [0, 1], got {v!r}")


def blur_context(x0: torch.Tensor, severity: torch.Tensor) -> torch.Tensor:
    """(B, T, C, h, w) latents mixed toward their 3x3 spatial blur by ``severity`` (B,) in [0, 1]: the softened
    frames a few-step dream feeds back to itself (see the module docstring)."""
    flat = x0.flatten(0, 1)
    blurred = F.avg_pool2d(flat, 3, stride=1, padding=1, count_include_pad=False).view_as(x0)
    return x0 + severity.view(-1, 1, 1, 1, 1).to(x0.dtype) * (blurred - x0)


def add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x0, noise: (B, T, C, h, w); t: (B, T) -> x_t."""
    t = t[..., None, None, None]
    return (1 - t) * x0 + t * noise


def sample_noise_levels(
    shape, cfg: DiffusionConfig, generator=None, device=None, context: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame noise levels (B, T) and the mask of frames drawn as context (see the module docstring).
    ``context`` (B, T) bool, if given, is the context mask itself (the pattern is still drawn, so that the random
    stream does not depend on it)."""
    b, t_len = shape
    u = torch.rand(shape, generator=generator, device=device)
    logit = torch.sigmoid(torch.randn(shape, generator=generator, device=device) * cfg.logit_std + cfg.logit_mean)
    pick_uniform = torch.rand(shape, generator=generator, device=device) < cfg.uniform_prob
    target_t = torch.where(pick_uniform, torch.rand(shape, generator=generator, device=device), logit)
    if cfg.one_prob > 0:  # drawn only when used, so that runs without it keep their random stream
        pick_one = torch.rand(shape, generator=generator, device=device) < cfg.one_prob
        target_t = torch.where(pick_one, torch.ones_like(target_t), target_t)
    independent = torch.rand(shape, generator=generator, device=device) < cfg.context_prob
    cut = torch.randint(1, max(t_len, 2), (b, 1), generator=generator, device=device)  # rollout: context before cut
    prefix = torch.arange(t_len, device=device)[None] < cut
    rollout = torch.rand((b, 1), generator=generator, device=device) < cfg.prefix_prob
    ctx = torch.where(rollout, prefix, independent) if context is None else context.to(device=device, dtype=torch.bool)
    return torch.where(ctx, u * cfg.context_max_t, target_t), ctx


def diffusion_loss(
    model,
    batch: dict[str, torch.Tensor],
    cfg: DiffusionConfig,
    generator=None,
    reward_class_weights: torch.Tensor | None = None,
    termination_pos_weight: torch.Tensor | None = None,
    outputs: dict | None = None,
):
    """Loss on a batch of windows; returns (loss, logs), logs as detached 0-d tensors (reading them is what
    waits for a GPU, so a training loop reads them only when it logs).

    batch: ``latents`` (B, T, C, h, w); ``actions`` (B, T, A), the action into each frame; ``has_action`` (B, T);
    ``rewards`` and ``terminations`` (B, T), of the transition into each frame (ignored where has_action is
    False); optionally ``context`` (B, T) bool, the frames that are context (no frame loss) in place of the drawn
    pattern (a window continued by the model's own rollout: the dreamed frames are context, the real frame after
    them the target); optionally ``labelled`` (B, T) bool, the frames whose reward and termination labels the heads
    learn from (a dreamed frame need not show what the world paid for; default: every frame with an action into
    it). ``reward_class_weights`` (K,): the weight of each reward class in the cross-entropy of a
    model with reward classes (``reward_class_weights`` in ``worldsim.train.train_dit``); None weighs them alike.
    ``termination_pos_weight`` (0-d): the weight of a terminating transition in the termination BCE (rare events
    weigh more; None: 1). ``outputs``: a dict to fill with what a second loss needs (``train/adversarial.py``):
    ``x0_hat`` (the predicted clean latents, with their graph), ``x0``, ``t`` and ``target`` (the frames with a
    frame loss).
    """
    x0 = batch["latents"]
    b, t_len = x0.shape[:2]
    t, ctx = sample_noise_levels((b, t_len), cfg, generator, x0.device, batch.get("context"))
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    soft = x0  # each frame as the model reads it as context or as the frame before (blurred in a share of windows)
    if cfg.context_blur_prob > 0:  # drawn only when used, so that runs without it keep their random stream
        pick = torch.rand((b,), generator=generator, device=x0.device) < cfg.context_blur_prob
        severity = torch.rand((b,), generator=generator, device=x0.device) * cfg.context_blur_max * pick
        soft = blur_context(x0, severity)
    prev = None  # the model shifts its own noisy input
    if cfg.clean_prev:
        prev_t = torch.rand((b, t_len), generator=generator, device=x0.device) * cfg.context_max_t
        if cfg.prev_t is not None:  # (drawn all the same: the random stream does not depend on the choice)
            prev_t = torch.full_like(prev_t, float(cfg.prev_t))
        prev_noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        prev = add_noise(soft, prev_t, prev_noise)
        prev = torch.cat([torch.zeros_like(prev[:, :1]), prev[:, :-1]], dim=1)
    x_t = add_noise(torch.where(ctx[..., None, None, None], soft, x0), t, noise)  # targets stay the real frames
    v_pred, r_pred, term_logit = model(x_t, t, batch["actions"], batch["has_action"], prev=prev,
                                       pitch=batch.get("pitch"))  # fmt: skip
    core = getattr(model, "module", model)  # a DDP-wrapped model keeps its head inside
    err = core.head.error(v_pred, x_t, t, x0, noise)  # what the output head's loss compares (models/heads.py)
    per_frame = err.pow(2).mean(dim=(2, 3, 4))  # (B, T)
    if outputs is not None:
        outputs.update(x0_hat=x_t - t[..., None, None, None] * v_pred, x0=x0, t=t, target=~ctx)
    weight = (~ctx).float()
    flow = (per_frame * weight).sum() / weight.sum().clamp_min(1.0)
    has = batch["has_action"].float()
    if "labelled" in batch:  # only these frames' reward and termination labels are learnt
        has = has * batch["labelled"].float()
    if core.cfg.reward_values:  # classes: cross-entropy, each class weighted by ``reward_class_weights``
        ce = F.cross_entropy(r_pred.flatten(0, 1), core.reward_class(batch["rewards"]).flatten(),
                             weight=reward_class_weights, reduction="none").view_as(has)  # fmt: skip
        reward = (ce * has).sum() / has.sum().clamp_min(1.0)
    else:
        reward = ((r_pred - batch["rewards"]).pow(2) * has).sum() / has.sum().clamp_min(1.0)
    term_bce = F.binary_cross_entropy_with_logits(term_logit, batch["terminations"].float(), reduction="none",
                                                  pos_weight=termination_pos_weight)  # fmt: skip
    term = (term_bce * has).sum() / has.sum().clamp_min(1.0)
    loss = cfg.flow_weight * flow + cfg.reward_weight * reward + cfg.termination_weight * term
    return loss, {"loss": loss.detach(), "flow": flow.detach(), "reward": reward.detach(), "termination": term.detach()}
