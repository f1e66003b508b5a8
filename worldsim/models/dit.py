"""The action-conditioned video DiT over spacetime patches of latent frames.

Tokens are p x p patches of each latent frame (N = h/p * w/p tokens a frame). With ``prev_frame`` a token also
reads the same patch of the previous frame (channels concatenated, zeros before the first frame), as DIAMOND and
GameNGen stack past frames: copying and shifting the last frame becomes a local operation that needs no
attention, and attention is left for what moved in from elsewhere and for the longer past. Every frame carries one
conditioning vector, the embedding of the action that led into it plus the embedding of its own noise level
(diffusion forcing gives each frame its own), which modulates every block through adaLN-Zero. Attention is
block-causal over frames (a frame sees itself and earlier frames only) with rotary positions over (time, row,
column), so neither the resolution nor the window length is baked into the weights. Two small heads predict the
reward and the termination of the transition into each frame: the reward as one of the world's reward values
(``reward_values``: classes, as DreamerV3 and DIAMOND predict sparse rewards) or, without them, as one number; the
termination as a logit.

The output map's meaning (``output``: ``"residual"``, ``"velocity"`` or ``"gated"``) and the loss target it
implies live in ``worldsim/models/heads.py``; the network owns its layers, and ``adapt_from`` starts a model from
another one's weights (a new head, the previous-frame input added).

The objective lives in ``worldsim/diffusion.py``, the sampler with its KV cache in ``worldsim/sampler.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsim.models.actions import ActionEmbedding, action_dim, space_from_json
from worldsim.models.heads import HEADS
from worldsim.models.pitch import PitchEmbedding, PitchRule


@dataclass
class DiTConfig:
    latent_shape: tuple[int, int, int] = (16, 8, 8)  # (C, h, w) of a latent frame (from the VAE)
    patch: int = 2  # p: tokens are p x p patches -> N = h/p * w/p tokens per frame
    dim: int = 256  # token width
    depth: int = 8  # transformer blocks
    heads: int = 4  # attention heads (head width = dim / heads)
    mlp_ratio: float = 4.0  # MLP hidden width / dim
    rope_theta: float = 1000.0  # RoPE base
    action_space: dict | None = None  # the action space as JSON (models.actions.space_to_json)
    prev_frame: bool = True  # each frame's tokens also read the previous frame's latent patch (channel concat)
    output: str = "residual"  # the output head (models/heads.py): "residual" (around the previous frame),
    # "velocity", or "gated" (the velocity with a per-pixel gate that copies the previous frame)
    residual_std: float = 0.5  # typical change of a latent from one frame to the next (its scale, unit latents)
    reward_values: tuple[float, ...] | None = None  # the reward head predicts these values as classes (the distinct
    # rewards of the recording, e.g. -1, 0, 1); None: one number, regressed
    pitch: dict | None = None  # each frame also reads the camera's pitch (models/pitch.py: {column, steps, limit},
    # the world's rule for turning it); None: the actions alone

    def __post_init__(self):
        for name in ("patch", "dim", "depth", "heads"):
            positive_int(name, getattr(self, name))
        for name in ("mlp_ratio", "rope_theta", "residual_std"):
            positive_number(name, getattr(self, name))
        if not isinstance(self.prev_frame, bool):
            raise ValueError(f"prev_frame must be true or false, got {self.prev_frame!r}")
        if not isinstance(self.latent_shape, (list, tuple)) or len(self.latent_shape) != 3:
            raise ValueError(f"latent_shape must be (C, h, w), got {self.latent_shape!r}")
        for s in self.latent_shape:
            positive_int("latent_shape", s)
        self.latent_shape = tuple(int(s) for s in self.latent_shape)
        c, h, w = self.latent_shape
        if h % self.patch or w % self.patch:
            raise ValueError(f"latent size {h}x{w} is not divisible by patch {self.patch}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim / heads must be an even whole number (RoPE pairs), got {self.dim}/{self.heads}")
        if self.output not in HEADS:
            raise ValueError(f"output must be one of {tuple(HEADS)}, got {self.output!r}")
        if HEADS[self.output].needs_prev and not self.prev_frame:
            raise ValueError(f"output={self.output!r} works from the previous frame: it needs prev_frame=True")
        if self.action_space is None:
            raise ValueError("DiTConfig needs the action space (action_space=space_to_json(env.action_space))")
        PitchRule.from_config(self.pitch, action_dim(space_from_json(self.action_space)))  # (checked)
        if self.reward_values is not None:
            values = self.reward_values
            if (
                not isinstance(values, (list, tuple))
                or len(values) < 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
                or list(values) != sorted(set(values))
            ):
                raise ValueError(f"reward_values must be two or more distinct finite numbers in increasing order (or "
                                 f"null), got {values!r}")  # fmt: skip
            self.reward_values = tuple(float(v) for v in values)

    @property
    def grid(self) -> tuple[int, int]:
        return self.latent_shape[1] // self.patch, self.latent_shape[2] // self.patch

    @property
    def tokens_per_frame(self) -> int:
        return self.grid[0] * self.grid[1]


def positive_int(name: str, value) -> None:
    """ValueError naming the config field unless ``value`` is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def positive_number(name: str, value) -> None:
    """ValueError naming the config field unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


PRESETS = {  # size presets: `dit=cpu` (the default, meets the CPU speed targets), larger ones for GPUs
    "tiny": dict(dim=48, depth=2, heads=2),
    "cpu": dict(dim=192, depth=8, heads=4),
    "medium": dict(dim=320, depth=10, heads=5),  # ~19M parameters: 38 MB in fp16, a GPU run's larger model
    "base": dict(dim=384, depth=12, heads=6),
    "large": dict(dim=768, depth=24, heads=12),
}


# --------------------------------------------------------------------------------------------- embeddings
def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of noise levels t in [0, 1]: (...,) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Rope3D(nn.Module):
    """Rotary position angles over (time, row, column); head width split into three even parts."""

    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        part = (head_dim // 3) // 2 * 2  # rows and columns get an even share each; time gets the rest
        self.parts = (head_dim - 2 * part, part, part)
        for name, d in zip(("t", "r", "c"), self.parts):
            self.register_buffer(
                f"freq_{name}", theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d), persistent=False
            )

    def forward(self, frame_pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """frame_pos: (B, T) absolute frame indices -> unit complex rotations (B, 1, T*N, head_dim/2)."""
        gh, gw = grid
        rows = torch.arange(gh, device=frame_pos.device, dtype=torch.float64).repeat_interleave(gw)  # (N,)
        cols = torch.arange(gw, device=frame_pos.device, dtype=torch.float64).repeat(gh)  # (N,)
        b, t = frame_pos.shape
        tpos = frame_pos.double()[:, :, None].expand(b, t, gh * gw)  # (B, T, N)
        ang = torch.cat([
            tpos[..., None] * self.freq_t,
            rows.expand(b, t, -1)[..., None] * self.freq_r,
            cols.expand(b, t, -1)[..., None] * self.freq_c,
        ], dim=-1)  # (B, T, N, head_dim/2)  # fmt: skip
        ang = rearrange(ang, "b t n f -> b 1 (t n) f").float()
        return torch.polar(torch.ones_like(ang), ang)


def apply_rope(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x (B, H, L, dh) by unit complex numbers rot (B, 1, L, dh/2)."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * rot).flatten(-2).type_as(x)  # back to x's dtype (bf16 under autocast)


def attend_cpu(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention of one frame's queries (B, H, L, dh) over a KV cache (B, H, Lk, dh) under ``mask`` (B, 1, 1, Lk)
    bool, or None where nothing is masked (the sampler's full window), as two batched matmuls: on the CPU, for a few
    queries against many keys, PyTorch's fused attention kernel is about a tenth slower (its bool mask becomes a
    float one on every call); the same values to float rounding (tests/test_sampler.py)."""
    b, h, lq, dh = q.shape
    lk = keys.shape[2]
    s = torch.bmm(q.reshape(b * h, lq, dh) * dh**-0.5, keys.reshape(b * h, lk, dh).transpose(1, 2))
    if mask is not None:
        s = s.view(b, h, lq, lk).masked_fill_(~mask, float("-inf")).view(b * h, lq, lk)
    return torch.bmm(torch.softmax(s, -1), values.reshape(b * h, lk, dh)).view(b, h, lq, dh)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale1p: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift, with ``scale1p`` = 1 + scale. x: (B, T, N, D); shift, scale1p: (B, T, D) per
    frame, broadcast over the frame's tokens."""
    return torch.addcmul(shift[:, :, None], x, scale1p[:, :, None])


# ------------------------------------------------------------------------------------------------ blocks
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, rot, mask=None, kv_buffer=None):
        """x: (B, L, D); rot: RoPE rotations (B, 1, L, dh/2). Without ``kv_buffer`` the tokens attend among
        themselves under ``mask``. With it, x is
        one frame whose keys and values are written into the last L slots of the cache buffers (B, H, Lc + L, dh)
        and attend to the whole buffer under ``mask`` (B, 1, 1, Lc + L). Returns (out, k, v), the new rotated
        keys and values (for a cache)."""
        b, length, d = x.shape
        qkv = self.qkv(x).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (3, B, H, L, dh)
        q, k = apply_rope(qkv[:2], rot).unbind(0)  # queries and keys rotated in one go
        v = qkv[2]
        if kv_buffer is None:
            keys, values = k, v
        else:
            keys, values = kv_buffer
            keys[:, :, -x.shape[1] :] = k
            values[:, :, -x.shape[1] :] = v
            if q.device.type == "cpu":
                return self.out(attend_cpu(q, keys, values, mask).transpose(1, 2).flatten(2)), k, v
        o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, H, L, dh)
        return self.out(o.transpose(1, 2).flatten(2)), k, v


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation from a per-frame conditioning vector."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def modulation(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(shift, 1 + scale, gate) for attention and for the MLP, each (B, T, D), from c (B, T, D)."""
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        return s1, 1 + sc1, g1, s2, 1 + sc2, g2

    def forward(self, x, c, rot, mask=None, kv_buffer=None, mods=None):
        # x: (B, T, N, D) tokens; c: (B, T, D) per-frame conditioning; mods: precomputed self.modulation(c)
        t = x.shape[1]
        s1, sc1, g1, s2, sc2, g2 = self.modulation(c) if mods is None else mods
        h = modulate(self.norm1(x), s1, sc1).flatten(1, 2)  # (B, T*N, D)
        a, k, v = self.attn(h, rot, mask, kv_buffer)
        x = torch.addcmul(x, g1[:, :, None], a.unflatten(1, (t, -1)))
        x = torch.addcmul(x, g2[:, :, None], self.mlp(modulate(self.norm2(x), s2, sc2)))
        return x, k, v


# ------------------------------------------------------------------------------------------------- model
class DiT(nn.Module):
    """``forward(x, t, actions, has_action)`` -> (velocity, reward, termination logit); see the module doc."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        c, _, _ = cfg.latent_shape
        p, d = cfg.patch, cfg.dim
        self.action_space = space_from_json(cfg.action_space)
        self.action_width = action_dim(self.action_space)  # A: width of a flattened action
        self.patch_in = nn.Linear(c * p * p * (2 if cfg.prev_frame else 1), d)
        self.t_embed = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.a_embed = ActionEmbedding(self.action_space, d)
        self.pitch_rule = PitchRule.from_config(cfg.pitch, self.action_width)
        self.pitch_embed = PitchEmbedding(self.pitch_rule, d) if self.pitch_rule else None
        self.rope = Rope3D(d // cfg.heads, cfg.rope_theta)
        self.blocks = nn.ModuleList([Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.head = HEADS[cfg.output](cfg)  # what the output map means (models/heads.py)
        self.patch_out = nn.Linear(d, (c + self.head.extra_channels) * p * p)
        self.reward_head = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, len(cfg.reward_values or [0])))
        values = torch.tensor(cfg.reward_values or [0.0], dtype=torch.float32)
        self.register_buffer("reward_table", values, persistent=False)  # class index -> reward value
        self.term_head = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))
        nn.init.zeros_(self.ada_out[1].weight)  # adaLN-Zero: the network starts as the zero map
        nn.init.zeros_(self.ada_out[1].bias)
        self.head.init_output(self.patch_out)
        self._fused_ada = None  # (weights' identity, weight, bias) of every block's adaLN linear in one

    def modulations(self, c: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Every block's ``modulation(c)``. Without autograd it is one matmul for all blocks, from a fused copy
        of their weights that is rebuilt whenever they change (a batch-1 dream step is bound by per-op
        overhead, and these are 3 of its ~25 ops per block)."""
        if torch.is_grad_enabled() or torch.compiler.is_compiling():  # (a compiled graph fuses these itself)
            return [blk.modulation(c) for blk in self.blocks]
        lins = [blk.ada[1] for blk in self.blocks]
        key = tuple((m.weight.data_ptr(), m.weight._version, m.bias.data_ptr(), m.bias._version) for m in lins)
        if self._fused_ada is None or self._fused_ada[0] != key:
            weight = torch.cat([m.weight for m in lins])
            bias = torch.cat([m.bias for m in lins]).clone()
            bias.view(len(lins), 6, -1)[:, [1, 4]] += 1  # fold the 1 of (1 + scale) into the bias
            self._fused_ada = (key, weight, bias)
        _, weight, bias = self._fused_ada
        out = F.linear(F.silu(c), weight, bias).chunk(6 * len(lins), dim=-1)
        return [out[6 * i : 6 * i + 6] for i in range(len(lins))]

    # ------------------------------------------------------------------------------------------- pieces
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        p = self.cfg.patch
        return rearrange(x, "b t c (gh p1) (gw p2) -> b t (gh gw) (c p1 p2)", p1=p, p2=p)

    def embed(self, x: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (B, T, C, h, w) -> tokens (B, T, N, D). ``prev``: the latents of the frames before each (same
        shape); by default x shifted by one frame, with zeros before the first."""
        if not self.cfg.prev_frame:
            return self.patch_in(self.patchify(x))
        if prev is None:
            prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        return self.patch_in(self.patchify(torch.cat([x, prev], dim=2)))

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        p, (gh, gw) = self.cfg.patch, self.cfg.grid
        return rearrange(x, "b t (gh gw) (c p1 p2) -> b t c (gh p1) (gw p2)", gh=gh, gw=gw, p1=p, p2=p)

    def condition(self, t: torch.Tensor, actions: torch.Tensor, has_action: torch.Tensor, pitch=None) -> torch.Tensor:
        """Per-frame conditioning (B, T, D) from noise levels (B, T), actions (B, T, A) and, for a model with the
        input, pitch indices (B, T) (``PitchRule.index``; None: unknown)."""
        c = self.t_embed(timestep_embedding(t, self.cfg.dim)) + self.a_embed(actions, has_action)
        if self.pitch_embed is None:
            return c
        if pitch is None:
            pitch = torch.full(t.shape, self.pitch_rule.unknown, dtype=torch.long, device=t.device)
        return c + self.pitch_embed(pitch)

    def block_causal_mask(self, frames: int, device=None) -> torch.Tensor:
        """(1, 1, T*N, T*N) bool: token of frame i may attend to tokens of frames <= i."""
        f = torch.arange(frames, device=device).repeat_interleave(self.cfg.tokens_per_frame)
        return (f[None, :] <= f[:, None])[None, None]

    def heads_out(self, h: torch.Tensor, c: torch.Tensor):
        """Final hidden tokens (B, T, N, D) -> output map (B, T, C (+ extra), h, w), reward output (B, T) or, with
        reward classes, their logits (B, T, K), termination logit (B, T); all float32, also under autocast."""
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        v = self.unpatchify(self.patch_out(modulate(self.norm_out(h), shift, 1 + scale)))
        pooled = h.mean(dim=2)  # (B, T, D)
        r = self.reward_head(pooled).float()
        return v.float(), (r if self.cfg.reward_values else r[..., 0]), self.term_head(pooled)[..., 0].float()

    def reward_value(self, out: torch.Tensor) -> torch.Tensor:
        """The reward a transition gets from the reward output: the value of the most likely class (logits
        (..., K) -> (...)), or the regressed number itself."""
        return self.reward_table[out.argmax(-1)] if self.cfg.reward_values else out

    def reward_class(self, rewards: torch.Tensor) -> torch.Tensor:
        """The class index (long, same shape) of each reward: the nearest of ``reward_values``."""
        return (rewards[..., None].float() - self.reward_table).abs().argmin(-1)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x, t, actions, has_action, frame_pos=None, return_kv: bool = False, prev=None, pitch=None):
        """x: (B, T, C, h, w) noisy latents; t: (B, T) noise levels (0 clean, 1 pure noise); actions: (B, T, A)
        the action into each frame; has_action: (B, T) bool; frame_pos: (B, T) absolute frame indices (0..T-1
        when None); prev: the latents before each frame (see ``embed``); pitch: (B, T) pitch indices (see
        ``condition``). With ``return_kv`` also returns every
        block's rotated keys and values (for a KV cache)."""
        b, nt = x.shape[:2]
        if frame_pos is None:
            frame_pos = torch.arange(nt, device=x.device).expand(b, nt)
        if self.cfg.prev_frame and prev is None:
            prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        h = self.embed(x, prev)  # (B, T, N, D)
        c = self.condition(t, actions, has_action, pitch)  # (B, T, D)
        rot = self.rope(frame_pos, self.cfg.grid)  # (B, 1, T*N, dh/2) complex
        mask = self.block_causal_mask(nt, x.device)
        kvs = []
        for blk, mods in zip(self.blocks, self.modulations(c)):
            h, k, v = blk(h, c, rot, mask, mods=mods)
            kvs.append((k, v))
        out, r, term = self.heads_out(h, c)
        out = self.velocity(out, x, t, prev)
        return (out, r, term, kvs) if return_kv else (out, r, term)

    def velocity(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, prev: torch.Tensor | None):
        """The velocity from the output map (the head's meaning of it): x, out, prev (B, T, ..., h, w); t (B, T)."""
        return self.head.velocity(out, x, t, prev)

    @torch.no_grad()
    def adapt_from(self, donor: DiT, name: str = "the donor") -> None:
        """Start this model from ``donor``'s weights: the same body and sizes; a donor without the previous-frame
        input, or without the pitch input, gets it with zero weights (its function unchanged); another output
        head is taken over as this head's ``adapt_output`` says; a reward head of other values keeps its hidden
        layer and gets a fresh output layer (ValueError naming ``name`` for anything else)."""
        from dataclasses import replace

        mine, theirs = self.cfg, donor.cfg
        same = replace(theirs, prev_frame=mine.prev_frame, output=mine.output, reward_values=mine.reward_values,
                       pitch=theirs.pitch or mine.pitch)  # fmt: skip
        if same != mine or (theirs.prev_frame and not mine.prev_frame):
            raise ValueError(f"{name} holds a DiT with config {theirs}, not {mine}")
        state = {k: v.clone() for k, v in donor.state_dict().items()}
        if mine.pitch and not theirs.pitch:  # a zero table: the donor's function, until the input is learnt
            state["pitch_embed.table.weight"] = self.pitch_embed.table.weight.clone()
        if mine.prev_frame and not theirs.prev_frame:
            w = state["patch_in.weight"]
            state["patch_in.weight"] = torch.cat([w, torch.zeros_like(w)], dim=1)
        try:
            state["patch_out.weight"], state["patch_out.bias"] = self.head.adapt_output(
                donor.head, state["patch_out.weight"], state["patch_out.bias"])  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        if mine.reward_values != theirs.reward_values:
            for key in ("reward_head.2.weight", "reward_head.2.bias"):
                state[key] = self.state_dict()[key].clone()
        self.load_state_dict(state)

    def forward_cached(self, x, t, actions, has_action, frame_pos, kv_buffers, mask, prev=None, pitch=None):
        """One new frame per sequence against cached earlier frames.

        x: (B, 1, C, h, w); t, has_action, frame_pos: (B, 1); actions: (B, 1, A); kv_buffers: per block (k, v)
        buffers (B, H, Lc + N, dh) whose first Lc tokens are the cache and whose last N slots receive the new
        frame's keys and values; mask: (B, Lc + N) bool, True where a token may be attended to (None: every
        token); prev: (B, 1, C, h, w) the latent of the frame before (zeros where there is none); pitch: (B, 1)
        pitch indices (None: unknown). Returns the
        outputs of ``forward`` for the new frame and its per-block (k, v)."""
        prev = torch.zeros_like(x) if prev is None else prev
        h = self.embed(x, prev)  # (B, 1, N, D)
        c = self.condition(t, actions, has_action, pitch)  # (B, 1, D)
        rot = self.rope(frame_pos, self.cfg.grid)  # (B, 1, N, dh/2) complex
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, Lc + N)
        kvs = []
        for blk, buf, mods in zip(self.blocks, kv_buffers, self.modulations(c)):
            h, k, v = blk(h, c, rot, attn_mask, buf, mods)
            kvs.append((k, v))
        out, r, term = self.heads_out(h, c)
        return self.velocity(out, x, t, prev), r, term, kvs

    def flops_per_frame(self) -> float:
        """Approximate forward FLOPs for one frame's tokens (matmuls only, attention over one frame of keys)."""
        d, n, L = self.cfg.dim, self.cfg.tokens_per_frame, self.cfg.depth
        per_token = (
            L * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * int(d * self.cfg.mlp_ratio))
            + 2 * 2 * d * self.patch_out.out_features
        )
        per_frame_cond = L * 2 * d * 6 * d
        return n * per_token + per_frame_cond
