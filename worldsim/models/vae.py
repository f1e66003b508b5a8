"""The video compression network: a per-frame convolutional VAE (spatial compression only).

Frames (B, H, W, 3) uint8 become latents (B, C, H/f, W/f) and back. The first encoder layer and the last
decoder layer trade resolution for channels (pixel unshuffle / shuffle by 2), so no convolution runs at full
resolution: decoding, which runs on every dream step, stays a few milliseconds at batch 1 on a CPU.

Latents are normalised with a per-channel shift and scale measured on the training data (stored in the
checkpoint), so the DiT sees roughly unit-variance inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass
class VAEConfig:
    resolution: tuple[int, int] = (64, 64)  # (H, W) of the frames
    latent_channels: int = 16  # C of a latent frame
    downsample: int = 8  # spatial compression f: 4, 8 or 16
    widths: list[int] = field(default_factory=lambda: [64, 96, 128])  # encoder channels at H/2, H/4, H/8 (H/16)
    decoder_widths: list[int] = field(default_factory=lambda: [32, 64, 96])  # decoder's (it runs every dream step)
    kl_weight: float = 1e-6  # weight of the KL term against per-pixel MSE

    def __post_init__(self):
        from worldsim.models.dit import positive_int

        if not isinstance(self.resolution, (list, tuple)) or len(self.resolution) != 2:
            raise ValueError(f"resolution must be (H, W), got {self.resolution!r}")
        for r in self.resolution:
            positive_int("resolution", r)
        positive_int("latent_channels", self.latent_channels)
        for w in [*self.widths, *self.decoder_widths]:
            positive_int("widths", w)
        if isinstance(self.kl_weight, bool) or not isinstance(self.kl_weight, (int, float)) or not self.kl_weight >= 0:
            raise ValueError(f"kl_weight must be a number >= 0, got {self.kl_weight!r}")
        self.resolution = tuple(int(r) for r in self.resolution)
        if self.downsample not in (4, 8, 16):
            raise ValueError(f"downsample must be 4, 8 or 16, got {self.downsample}")
        levels = int(np.log2(self.downsample))  # stride-2 stages, the first is the pixel unshuffle
        if len(self.widths) < levels:
            raise ValueError(f"widths needs {levels} entries for downsample {self.downsample}, got {self.widths}")
        if len(self.decoder_widths) < levels:
            raise ValueError(f"decoder_widths needs {levels} entries, got {self.decoder_widths}")
        self.widths = [int(w) for w in self.widths[:levels]]
        self.decoder_widths = [int(w) for w in self.decoder_widths[:levels]]
        if any(r % self.downsample for r in self.resolution):
            raise ValueError(f"resolution {self.resolution} is not divisible by downsample {self.downsample}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        h, w = self.resolution
        return (self.latent_channels, h // self.downsample, w // self.downsample)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch // 4), ch)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  _norm(ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))  # fmt: skip

    def forward(self, x):
        return x + self.body(x)


class Upsample2x(nn.Module):
    """Nearest-neighbour 2x upsampling, the values of ``nn.Upsample(scale_factor=2, mode="nearest")`` bit for bit,
    as one strided copy: on the CPU PyTorch's upsampling kernel plus the copy it makes cost a fifth of a batch-32
    decode (every dream step decodes). Parameter-free, so checkpoints are unchanged."""

    def forward(self, x):
        b, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv2d(12, w[0], 3, padding=1), ResBlock(w[0])]  # input: unshuffled x2
        for a, b in zip(w[:-1], w[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), ResBlock(b)]
        layers += [_norm(w[-1]), nn.SiLU(), nn.Conv2d(w[-1], 2 * cfg.latent_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # x: (B, 3, H, W) in [-1, 1]
        x = F.pixel_unshuffle(x, 2)  # (B, 12, H/2, W/2)
        return self.net(x).chunk(2, dim=1)  # mean, logvar: (B, C, H/f, W/f) each


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        w = cfg.decoder_widths[::-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, w[0], 3, padding=1), ResBlock(w[0])]
        for a, b in zip(w[:-1], w[1:]):
            layers += [Upsample2x(), nn.Conv2d(a, b, 3, padding=1), ResBlock(b)]
        layers += [_norm(w[-1]), nn.SiLU(), nn.Conv2d(w[-1], 12, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):  # z: (B, C, H/f, W/f)
        return F.pixel_shuffle(self.net(z), 2)  # (B, 3, H, W)


class VAE(nn.Module):
    """``encode(frames)``: uint8 (B, H, W, 3) -> normalised latents (B, C, h, w), deterministic (the posterior
    mean). ``decode(latents)`` -> uint8 (B, H, W, 3). ``forward`` is the training pass."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        c = cfg.latent_channels
        self.register_buffer("latent_shift", torch.zeros(c))
        self.register_buffer("latent_scale", torch.ones(c))

    # ----------------------------------------------------------------------------------------- conversions
    @staticmethod
    def to_input(frames) -> torch.Tensor:
        """uint8 (B, H, W, 3) array or tensor -> float (B, 3, H, W) in [-1, 1]."""
        x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        if x.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8, got {x.dtype}")
        return rearrange(x, "b h w c -> b c h w").float().div(127.5).sub(1.0)

    @staticmethod
    def to_frames(x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3)."""
        x = x.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
        return rearrange(x, "b c h w -> b h w c")

    def _check_frames(self, frames) -> None:
        shape = tuple(frames.shape)
        h, w = self.cfg.resolution
        if len(shape) != 4 or shape[1:] != (h, w, 3):
            raise ValueError(f"this VAE encodes frames of shape (B, {h}, {w}, 3), got {shape}")

    def _check_latents(self, z: torch.Tensor) -> None:
        if z.ndim != 4 or tuple(z.shape[1:]) != self.cfg.latent_shape:
            raise ValueError(f"this VAE decodes latents of shape (B, {', '.join(map(str, self.cfg.latent_shape))}), "
                             f"got {tuple(z.shape)}")  # fmt: skip

    # ------------------------------------------------------------------------------------------- public API
    @torch.no_grad()
    def encode(self, frames) -> torch.Tensor:
        self._check_frames(frames)
        x = self.to_input(frames).to(self.latent_shift.device)
        mean, _ = self.encoder(x)
        return (mean.float() - self.latent_shift[:, None, None]) / self.latent_scale[:, None, None]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        self._check_latents(latents)
        z = latents.float() * self.latent_scale[:, None, None] + self.latent_shift[:, None, None]
        return self.to_frames(self.decoder(z).float())  # (float32 before rounding to uint8, also under autocast)

    def forward(self, x: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: float (B, 3, H, W) in [-1, 1] -> (reconstruction, mean, logvar)."""
        mean, logvar = self.encoder(x)
        logvar = logvar.clamp(-30.0, 20.0)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
        return self.decoder(z), mean, logvar

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Per-pixel MSE plus ``kl_weight`` times the KL to a unit Gaussian (per latent element)."""
        recon, mean, logvar = (y.float() for y in self(x))  # (the loss in float32, also under autocast)
        mse = F.mse_loss(recon, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = mse + self.cfg.kl_weight * kl
        psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))  # range [-1, 1] -> peak-to-peak 2
        return loss, {"loss": loss.item(), "mse": mse.item(), "kl": kl.item(), "psnr": psnr.item()}

    @torch.no_grad()
    def set_latent_stats(self, frames: np.ndarray, batch: int = 256) -> None:
        """Measure the per-channel mean and std of the latent means over ``frames`` and normalise with them."""
        means = []
        for i in range(0, len(frames), batch):
            m, _ = self.encoder(self.to_input(frames[i : i + batch]).to(self.latent_shift.device))
            means.append(rearrange(m, "b c h w -> (b h w) c"))
        m = torch.cat(means)
        self.latent_shift.copy_(m.mean(0))
        self.latent_scale.copy_(m.std(0).clamp_min(1e-4))


def load_vae(name_or_path: str, device: str | torch.device = "cpu") -> VAE:
    """A trained VAE in eval mode: a shipped model by name (``"voxel"``) or a checkpoint file / run folder, found
    as ``vae_file`` finds it."""
    from worldsim.checkpoint import load_module

    return load_module(vae_file(name_or_path), "vae", VAEConfig, VAE)[0].to(device)


def vae_file(name_or_path: str) -> Path:
    """The VAE checkpoint file of a shipped model name, a run folder or a file path (absolute). A world-model
    folder that holds a DiT alone (the shipped ``"voxel-long"``) gives the shipped VAE its DiT names by SHA-256,
    the one its dreams are decoded with. FileNotFoundError naming what was tried."""
    from worldsim.assets import resolve_model_file

    try:
        path = resolve_model_file(name_or_path, "vae")
    except FileNotFoundError:
        from worldsim.assets import model_folder

        path = _vae_named_by_dit(model_folder(name_or_path) / "dit.safetensors")
        if path is None:
            raise
    meta = _metadata(path)
    if meta.get("kind") == "dit":  # a DiT training run's model.safetensors: the VAE it names
        named = _vae_named_by_dit(path)
        if named is None:
            raise FileNotFoundError(f"{path} is a DiT whose VAE ({_dit_info(path).get('vae_file')!r}) is not there")
        path = named
    return Path(path).resolve()


def _metadata(path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception:  # unreadable: loading it says why
        return {}


def _dit_info(dit) -> dict:
    import json

    try:
        extra = json.loads(_metadata(dit).get("extra", "{}"))
    except ValueError:
        return {}
    return extra.get("info", {}) if isinstance(extra, dict) and isinstance(extra.get("info"), dict) else {}


def _vae_named_by_dit(dit):
    """The VAE file that the DiT checkpoint ``dit`` names: the file it was trained with where it is still there
    with that hash, else the shipped VAE of that SHA-256; None if neither."""
    from worldsim.world_model import shipped_with_vae

    if not Path(dit).is_file():
        return None
    info = _dit_info(dit)
    named = Path(str(info.get("vae_file") or ""))
    if named.is_file() and info.get("vae_sha256"):
        from worldsim.data.latents import file_sha256

        if file_sha256(named) == info["vae_sha256"]:
            return named
    home = shipped_with_vae(info.get("vae_sha256"))
    return None if home is None else home / "vae.safetensors"
