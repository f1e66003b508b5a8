"""Autoregressive next-frame sampling with a KV cache over a sliding window of context frames.

For each of B sequences (one per environment) the sampler keeps the last ``context`` frames as cached keys and
values of every DiT block, in a ring buffer. A step draws the new frame from noise and integrates the flow with
``steps`` Euler steps, each running only the new frame's N tokens against the cache. The schedule puts the last
network evaluation at the stabilisation noise level ``context_noise``: that pass also *commits* the frame, giving
the reward and termination predictions and the keys and values that enter the cache (with a single step, a
separate commit pass re-noises the finished frame to that level). Cost per frame is max(steps, 2) passes of N
tokens plus attention over the window: it does not grow with the length of the rollout.

Each sequence draws its noise from its own generator, so sequence i of a batch gives exactly what a batch of one
with the same seed gives (on one device: CPU and CUDA generators draw different streams). ``step(...,
use_cache=False)`` recomputes every pass over the stored window instead (the reference the cache is tested and
benchmarked against).

Contrast floor (``std_floor``, off by default): a few-step sampler's first pass from pure noise predicts the mean
of the next frame, which is flatter than any real frame; fed back as context, each step flattens the next, and a
long dream fades into haze. With a floor, every pass's predicted clean frame has each latent channel's spatial
standard deviation raised to at least that channel's floor (stretched about its spatial mean, as Imagen's dynamic
thresholding reins in the predicted clean image), and the step continues from it. The floor comes from real
latents (``latent_std_floor``: a low quantile of real frames' per-channel std) and is saved with the model.
Colour band (``mean_band``, off by default): the same pass's predicted clean frame has each latent channel's
spatial mean held within that channel's band of real frames' means (``latent_mean_band``: the ``q`` and ``1 - q``
quantiles), shifted, not stretched: a real-looking frame never meets it, a dream drifting into colours no real
frame has (white fog, dark-green haze) is pulled back to the edge of the world's range (session 34).

The sampler runs where its model's weights are. ``dtype`` is the compute precision (``worldsim.runtime``):
bfloat16 runs every pass under autocast and keeps the KV cache in bfloat16; latents, rewards and termination
probabilities come back as float32 on the model's device. ``compile=True`` compiles the cached pass with
``torch.compile`` (worth it on a GPU, where a small DiT's step is bound by kernel launches).

A model with the pitch input (``DiTConfig.pitch``, ``worldsim.models.pitch``) gets each frame's camera pitch: a
sequence reset with the pitch of its first frame (``reset(..., pitch=...)``) integrates it through the clip's
actions and every step's; one reset without it dreams with the pitch unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from worldsim.diffusion import add_noise
from worldsim.models.dit import DiT
from worldsim.runtime import autocast


@dataclass
class SamplerConfig:
    steps: int = 2  # Euler steps per new frame (1 to 8): fewer is faster, more is sharper
    context: int = 7  # frames kept as context (at most the training window - 1)
    context_noise: float = 0.05  # noise level context frames are kept at ("stabilisation"); 0 = clean
    shift: float = 1.0  # timestep shift: t' = s t / (1 + (s - 1) t); >1 spends more steps at high noise
    std_floor: list[float] | None = None  # per latent channel, the least spatial std of a predicted clean frame
    mean_band: list[list[float]] | None = None  # per latent channel, [lo, hi] of a predicted clean frame's mean

    def __post_init__(self):
        if not 1 <= self.steps <= 8:
            raise ValueError(f"sampler steps must be 1 to 8, got {self.steps}")
        if self.context < 1:
            raise ValueError(f"sampler context must be at least 1 frame, got {self.context}")
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"context_noise must be in [0, 1), got {self.context_noise}")
        if self.std_floor is not None:
            if isinstance(self.std_floor, (str, bytes)) or not hasattr(self.std_floor, "__len__"):
                raise ValueError(f"sampler std_floor must be a list of numbers (one per latent channel) or null, got "
                                 f"{self.std_floor!r}")  # fmt: skip
            vals = list(self.std_floor)
            if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   and v >= 0 for v in vals):  # fmt: skip
                raise ValueError(f"sampler std_floor must hold finite numbers >= 0, one per latent channel, got "
                                 f"{self.std_floor!r}")  # fmt: skip
            self.std_floor = [float(v) for v in vals]
        if self.mean_band is not None:
            bad = isinstance(self.mean_band, (str, bytes)) or not hasattr(self.mean_band, "__len__") \
                or not len(self.mean_band)  # fmt: skip
            pairs = [] if bad else [list(p) if hasattr(p, "__len__") and not isinstance(p, (str, bytes)) else None
                                    for p in self.mean_band]  # fmt: skip
            if bad or not all(
                p is not None
                and len(p) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
                and p[0] <= p[1]
                for p in pairs
            ):
                raise ValueError(f"sampler mean_band must be a list of [lo, hi] pairs of finite numbers (lo <= hi), "
                                 f"one per latent channel, or null, got {self.mean_band!r}")  # fmt: skip
            self.mean_band = [[float(lo), float(hi)] for lo, hi in pairs]

    def schedule(self) -> list[float]:
        """Noise levels from 1 down to 0, ``steps + 1`` of them. With two or more steps the last network
        evaluation happens at ``context_noise``, so that one pass also commits the frame to the context."""
        if self.steps == 1:
            return [1.0, 0.0]
        tc = self.context_noise
        ts = [1.0 - i * (1.0 - tc) / (self.steps - 1) for i in range(self.steps)]
        inner = [self.shift * t / (1 + (self.shift - 1) * t) for t in ts[1:-1]]
        return [1.0, *inner, tc, 0.0]


class Sampler:
    """Batched autoregressive sampler over ``batch`` sequences; see the module docstring."""

    def __init__(self, model: DiT, cfg: SamplerConfig, batch: int, seeds=None, dtype: torch.dtype = torch.float32,
                 compile: bool = False):  # fmt: skip
        self.model, self.cfg, self.batch = model.eval(), cfg, int(batch)
        self.device = next(model.parameters()).device
        self.dtype = dtype
        self.amp = lambda: autocast(self.device, dtype)
        self._forward_cached = torch.compile(model.forward_cached, dynamic=False) if compile else model.forward_cached
        mc = model.cfg
        self.n = mc.tokens_per_frame
        self.latent_shape = mc.latent_shape
        heads, dh = mc.heads, mc.dim // mc.heads
        lc = cfg.context * self.n
        # per block: key / value buffers, the cache in the first lc tokens and the new frame in the last n
        shape = (batch, heads, lc + self.n, dh)
        self.kv = [(torch.zeros(shape, device=self.device, dtype=dtype),  # the blocks' keys come out in dtype
                    torch.zeros(shape, device=self.device, dtype=dtype)) for _ in range(mc.depth)]  # fmt: skip
        self.valid = torch.zeros(batch, cfg.context, dtype=torch.bool, device=self.device)  # per ring slot
        self.count = torch.zeros(batch, dtype=torch.long, device=self.device)  # frames committed since reset
        # the window itself, for the uncached reference path: noised latents, actions into them, positions
        self.win_x = torch.zeros(batch, cfg.context, *self.latent_shape, device=self.device)
        self.win_a = torch.zeros(batch, cfg.context, model.action_width, device=self.device)
        self.win_has = torch.zeros(batch, cfg.context, dtype=torch.bool, device=self.device)
        self.win_prev = torch.zeros(batch, cfg.context, *self.latent_shape, device=self.device)  # latent before each
        self.last_x = torch.zeros(batch, *self.latent_shape, device=self.device)  # newest committed latent (or 0)
        self.rule = model.pitch_rule  # None: the model reads no pitch
        self.pitch = torch.zeros(batch, dtype=torch.long, device=self.device)  # the newest frame's, in steps
        self.pitch_known = torch.zeros(batch, dtype=torch.bool, device=self.device)
        self.win_pitch = torch.zeros(batch, cfg.context, dtype=torch.long, device=self.device)  # table indices
        self.generators = [torch.Generator(device=self.device) for _ in range(batch)]
        self.seed(seeds)
        self.floor = None  # (1, C, 1, 1): the least spatial std of each channel of a predicted clean frame
        if cfg.std_floor is not None:
            if len(cfg.std_floor) != self.latent_shape[0]:
                raise ValueError(f"sampler std_floor has {len(cfg.std_floor)} values, but the model's latents have "
                                 f"{self.latent_shape[0]} channels")  # fmt: skip
            self.floor = torch.tensor(cfg.std_floor, device=self.device).view(1, -1, 1, 1)
        self.band = None  # (2, 1, C, 1, 1): the least and the most spatial mean of each channel of a clean frame
        if cfg.mean_band is not None:
            if len(cfg.mean_band) != self.latent_shape[0]:
                raise ValueError(f"sampler mean_band has {len(cfg.mean_band)} pairs, but the model's latents have "
                                 f"{self.latent_shape[0]} channels")  # fmt: skip
            self.band = torch.tensor(cfg.mean_band, device=self.device).T.reshape(2, 1, -1, 1, 1)

    # ------------------------------------------------------------------------------------------- state
    def seed(self, seeds=None, indices=None) -> None:
        """Seed the noise of the given sequences (all by default); None draws fresh entropy."""
        indices = range(self.batch) if indices is None else indices
        seeds = [None] * len(indices) if seeds is None else list(seeds)
        for i, s in zip(indices, seeds):
            if s is None:
                self.generators[i].seed()
            else:
                self.generators[i].manual_seed(int(s))

    def _noise(self, indices=None) -> torch.Tensor:
        idx = range(self.batch) if indices is None else indices
        return torch.stack(
            [torch.randn(self.latent_shape, generator=self.generators[i], device=self.device) for i in idx]
        )

    @torch.no_grad()
    def reset(self, indices, latents: torch.Tensor | None = None, actions: torch.Tensor | None = None,
              pitch=None) -> None:  # fmt: skip
        """Start sequences ``indices`` afresh: from a clip of latents (B', L, C, h, w) with the L-1 actions
        between its frames (B', L-1, A), or from nothing (``latents=None``: the next step generates a first
        frame without an action). Clips longer than the context keep their last frames. ``pitch``: for a model
        with the pitch input, each clip's first frame's camera pitch in steps (B',) (or the first frame's that
        the next step generates); None, or a value outside the model's limit, unknown."""
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        self.valid[idx] = False
        self.count[idx] = 0
        self.win_has[idx] = False
        self.last_x[idx] = 0.0
        if self.rule is not None:  # the first frame's pitch (unknown: None, or outside the limit)
            start = torch.zeros(len(idx), dtype=torch.long, device=self.device)
            if pitch is not None:
                start = torch.as_tensor(pitch, device=self.device).long().reshape(len(idx))
            known = (start.abs() <= self.rule.limit) & (pitch is not None)
            self.pitch[idx], self.pitch_known[idx] = torch.where(known, start, 0), known
        if latents is None:
            return
        latents = latents.to(self.device).float()
        b, length = latents.shape[:2]
        if tuple(latents.shape[2:]) != self.latent_shape or b != len(idx):
            raise ValueError(
                f"reset: expected latents of shape ({len(idx)}, L, {self.latent_shape}), got {tuple(latents.shape)}"
            )
        width = self.model.action_width
        acts = torch.zeros(b, length, width, device=self.device)
        if length > 1:
            if actions is None or tuple(actions.shape[:2]) != (b, length - 1):
                raise ValueError(f"reset: a clip of {length} frames needs ({b}, {length - 1}, A) actions between them")
            acts[:, 1:] = actions.to(self.device).float().reshape(b, length - 1, width)
        has = torch.ones(b, length, dtype=torch.bool, device=self.device)
        has[:, 0] = False
        keep = min(length, self.cfg.context)
        t = torch.full((b, length), self.cfg.context_noise, device=self.device)
        noise = torch.stack([torch.stack([self._noise([i])[0] for _ in range(length)]) for i in idx.tolist()])
        x = add_noise(latents, t, noise) if self.cfg.context_noise > 0 else latents
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)  # the latent before each frame
        pitches = None
        if self.rule is not None:  # each frame's table index; the newest frame's pitch becomes the sequence's
            pitches = self._clip_pitch(self.pitch[idx], self.pitch_known[idx], acts[:, 1:])[:, -keep:]
            self.pitch[idx] = torch.where(self.pitch_known[idx], pitches[:, -1] - self.rule.limit, 0)
            self.win_pitch[idx, :keep] = pitches
        x, prev, t, acts, has = x[:, -keep:], prev[:, -keep:], t[:, -keep:], acts[:, -keep:], has[:, -keep:]
        has[:, 0] = length > keep  # a trimmed clip's first kept frame did have an action into it
        pos = torch.arange(keep, device=self.device).expand(b, keep)
        with self.amp():
            _, _, _, kvs = self.model(x, t, acts, has, frame_pos=pos, return_kv=True, prev=prev, pitch=pitches)
        for (kbuf, vbuf), (k, v) in zip(self.kv, kvs):
            kbuf[idx, :, : keep * self.n] = k
            vbuf[idx, :, : keep * self.n] = v
        self.valid[idx, :keep] = True
        self.count[idx] = keep
        self.win_x[idx, :keep] = x
        self.win_a[idx, :keep] = acts
        self.win_has[idx, :keep] = has
        self.win_prev[idx, :keep] = prev
        self.last_x[idx] = x[:, -1]

    def _clip_pitch(self, start: torch.Tensor, known: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Table indices (B', L) of a clip's frames from its first frame's pitch and the L-1 actions between
        them."""
        p, out = start, [start]
        for j in range(actions.shape[1]):
            p = self.rule.step(p, actions[:, j])
            out.append(p)
        return self.rule.index(torch.stack(out, 1), known[:, None])

    # -------------------------------------------------------------------------------------------- step
    def _mask(self) -> torch.Tensor | None:
        """(B, Lc + N) bool, True where a token may be attended to; None once every ring slot holds a frame (a
        dream started from a full clip, or any dream after ``context`` steps): nothing to mask."""
        if bool(self.valid.all()):
            return None
        cache = self.valid.repeat_interleave(self.n, dim=1)  # (B, Lc)
        return torch.cat([cache, torch.ones(self.batch, self.n, dtype=torch.bool, device=self.device)], dim=1)

    def _pass_cached(self, x, t, acts, has, pos, mask, pitch):
        tt = torch.full((self.batch, 1), t, device=self.device)
        v, r, term, kvs = self._forward_cached(x[:, None], tt, acts[:, None], has[:, None], pos[:, None], self.kv,
                                               mask, prev=self.last_x[:, None], pitch=pitch)  # fmt: skip
        return v[:, 0], r[:, 0], term[:, 0], kvs

    def _pass_uncached(self, x, t, acts, has, pos, pitch):
        """The same pass recomputed over the stored window (every sequence must hold as many frames)."""
        w = self.cfg.context
        keeps = self.valid.sum(dim=1)
        if not bool((keeps == keeps[0]).all()):
            raise NotImplementedError("the uncached path needs every sequence to hold the same number of frames")
        keep = int(keeps[0])
        order = torch.argsort(torch.where(self.valid, self._slot_pos(), -1), dim=1)[:, w - keep :]  # oldest first
        bi = torch.arange(self.batch, device=self.device)[:, None]
        xs = torch.cat([self.win_x[bi, order], x[:, None]], 1)
        ts = torch.cat([torch.full((self.batch, keep), self.cfg.context_noise, device=self.device),
                        torch.full((self.batch, 1), t, device=self.device)], 1)  # fmt: skip
        a = torch.cat([self.win_a[bi, order], acts[:, None]], 1)
        h = torch.cat([self.win_has[bi, order], has[:, None]], 1)
        p = torch.cat([self._slot_pos()[bi, order], pos[:, None]], 1)
        prev = torch.cat([self.win_prev[bi, order], self.last_x[:, None]], 1)
        if pitch is not None:
            pitch = torch.cat([self.win_pitch[bi, order], pitch], 1)
        v, r, term = self.model(xs, ts, a, h, frame_pos=p, prev=prev, pitch=pitch)
        return v[:, -1], r[:, -1], term[:, -1], None

    def _slot_pos(self) -> torch.Tensor:
        """Absolute frame position held by each ring slot (B, context)."""
        w = self.cfg.context
        slots = torch.arange(w, device=self.device)[None]
        c = self.count[:, None]
        # the frame committed last sits at slot (c - 1) % w; slot s holds the latest frame f < c with f % w == s
        return c - 1 - ((c - 1 - slots) % w)

    @torch.no_grad()
    def step(self, actions: torch.Tensor, use_cache: bool = True,
             recall: tuple[torch.Tensor, torch.Tensor] | None = None):  # fmt: skip
        """Generate one frame per sequence given the action into it: actions (B, A) float (as FrameStore
        stores them). Returns (latents (B, C, h, w), reward (B,), termination probability (B,)).

        ``recall`` (mask (B,) bool, latents (B, C, h, w)): the sequences in the mask commit the given latents as
        their new frame instead of a drawn one (a remembered view, ``worldsim.memory``): the commit pass sees them
        at the context noise level, so they enter the context and are paid as any frame."""
        acts = actions.to(self.device).float().reshape(self.batch, self.model.action_width)
        has = self.count > 0  # a sequence started from nothing gets no action for its first frame
        pos = self.count.clone()
        mask = self._mask()
        pitch, index = self.pitch, None  # the new frame's pitch: the action turns it (none into a first frame)
        if self.rule is not None:
            pitch = torch.where(has, self.rule.step(self.pitch, acts), self.pitch)
            index = self.rule.index(pitch, self.pitch_known)[:, None]  # (B, 1)
        run = (lambda x, t: self._pass_cached(x, t, acts, has, pos, mask, index)) if use_cache else (
            lambda x, t: self._pass_uncached(x, t, acts, has, pos, index))  # fmt: skip
        x = self._noise()  # (B, C, h, w) at t = 1
        ts = self.cfg.schedule()
        tc = self.cfg.context_noise
        hit = None if recall is None else recall[0].to(self.device).bool()
        if hit is not None and bool(hit.any()):
            kept = recall[1].to(self.device).float()
        else:
            hit = None
        with self.amp():
            for k, (t_cur, t_next) in enumerate(zip(ts[:-1], ts[1:])):
                if hit is not None and k == len(ts) - 2 and self.cfg.steps > 1:  # the commit pass: recalled frames
                    x = torch.where(hit[:, None, None, None], self._recall_at(kept, hit, t_cur), x)
                v, r, term, kvs = run(x, t_cur)
                xc = x  # with 2+ steps the last pass runs at the context level: it commits the frame as well
                if self.floor is None and self.band is None:
                    x = x + (t_next - t_cur) * v  # Euler step of dx/dt = v toward t = 0 (float32: v comes out so)
                else:  # the same step through the predicted clean frame, reined in to the real frames' range first
                    x0, eps = x - t_cur * v, x + (1 - t_cur) * v
                    mean = x0.mean(dim=(2, 3), keepdim=True)  # the floor stretches about it, the band moves it
                    if self.floor is not None:
                        x0 = raise_std(x0, self.floor, mean)
                    if self.band is not None:
                        x0 = hold_mean(x0, self.band[0], self.band[1], mean)
                    x = (1 - t_next) * x0 + t_next * eps
            if self.cfg.steps == 1:  # one step: a separate pass commits the finished frame at the context level
                if hit is not None:
                    x = torch.where(hit[:, None, None, None], kept, x)
                noise = self._noise()
                xc = add_noise(x[:, None], torch.full((self.batch, 1), tc, device=self.device), noise[:, None])[:, 0]
                _, r, term, kvs = run(xc, tc)
        slot = pos % self.cfg.context
        bi = torch.arange(self.batch, device=self.device)
        if kvs is not None:
            lc = self.cfg.context * self.n
            for (kbuf, vbuf), (k, v) in zip(self.kv, kvs):  # the frame's N tokens into its ring slot
                kbuf[:, :, :lc].unflatten(2, (self.cfg.context, self.n))[bi, :, slot] = k
                vbuf[:, :, :lc].unflatten(2, (self.cfg.context, self.n))[bi, :, slot] = v
        self.valid[bi, slot] = True
        self.win_x[bi, slot] = xc
        self.win_a[bi, slot] = acts
        self.win_has[bi, slot] = has
        self.win_prev[bi, slot] = self.last_x
        if index is not None:
            self.win_pitch[bi, slot] = index[:, 0]
            self.pitch = pitch
        self.last_x = xc.clone()
        self.count += 1
        if hit is not None:
            x = torch.where(hit[:, None, None, None], kept, x)
        return x, self.model.reward_value(r), torch.sigmoid(term)

    def _recall_at(self, kept: torch.Tensor, hit: torch.Tensor, t: float) -> torch.Tensor:
        """Recalled latents noised to level t, the noise drawn only for the recalling sequences (the others' noise
        streams stay as they would be without memory)."""
        idx = torch.nonzero(hit).flatten().tolist()
        noise = torch.zeros_like(kept)
        noise[idx] = self._noise(idx)
        return add_noise(kept[:, None], torch.full((self.batch, 1), t, device=self.device), noise[:, None])[:, 0]


def raise_std(x0: torch.Tensor, floor: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Clean latents (B, C, h, w) whose per-channel spatial std is below ``floor`` (1, C, 1, 1) stretched about
    their spatial mean (``mean`` where already known) up to it; channels already above it are left as they are."""
    mean = x0.mean(dim=(2, 3), keepdim=True) if mean is None else mean
    std = x0.std(dim=(2, 3), keepdim=True)
    return mean + (x0 - mean) * (torch.maximum(std, floor) / std.clamp_min(1e-6))


def hold_mean(x0: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Clean latents (B, C, h, w) whose per-channel spatial mean (``mean`` where already known) lies outside
    [``lo``, ``hi``] (1, C, 1, 1 each) shifted to the nearer edge; channels inside are left as they are."""
    mean = x0.mean(dim=(2, 3), keepdim=True) if mean is None else mean
    return x0 + (torch.minimum(torch.maximum(mean, lo), hi) - mean)


def latent_mean_band(latents: torch.Tensor, quantile: float) -> list[list[float]]:
    """The ``mean_band`` of a sampler from real latents (N, C, h, w): per channel, the ``quantile`` and
    ``1 - quantile`` quantiles of the frames' spatial means (0.01: a dreamed frame's colours stay within those of
    all but the most extreme 2% of real frames)."""
    if not 0.0 < quantile < 0.5:
        raise ValueError(f"mean band quantile must be in (0, 0.5), got {quantile!r}")
    if latents.ndim != 4 or len(latents) < 2:
        raise ValueError(f"latent_mean_band needs real latents (N >= 2, C, h, w), got shape {tuple(latents.shape)}")
    mean = latents.float().mean(dim=(2, 3))  # (N, C)
    lo, hi = torch.quantile(mean, quantile, dim=0), torch.quantile(mean, 1 - quantile, dim=0)
    return [[round(float(a), 4), round(float(b), 4)] for a, b in zip(lo, hi)]


def latent_std_floor(latents: torch.Tensor, quantile: float) -> list[float]:
    """The ``std_floor`` of a sampler from real latents (N, C, h, w): per channel, the ``quantile`` of the frames'
    spatial standard deviations (0.1: a dreamed frame is never flatter than the flattest tenth of real ones)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"std floor quantile must be in (0, 1), got {quantile!r}")
    if latents.ndim != 4 or len(latents) < 2:
        raise ValueError(f"latent_std_floor needs real latents (N >= 2, C, h, w), got shape {tuple(latents.shape)}")
    std = latents.float().std(dim=(2, 3))  # (N, C)
    return [round(float(v), 4) for v in torch.quantile(std, quantile, dim=0)]
