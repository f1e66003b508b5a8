"""Output heads of the DiT: what the network's output channels mean, and what the training loss compares them with.

The DiT's body maps (noisy latents, noise levels, actions) to one output map per frame; a head turns that map into
the velocity ``v = eps - x0`` the sampler integrates (``velocity``) and gives the per-element error whose square
the objective averages (``error``), as DIAMOND's ``Denoiser`` wraps its inner network with the EDM preconditioning
and the loss target. Each head also says how its output layer starts (``init_output``) and how it takes over the
output layer of a model with another head (``adapt_output``, used by ``DiT.adapt_from``). A new head is one class
here, registered in ``HEADS``.

- ``"residual"``: preconditioned around the previous frame, as EDM preconditions around zero. The clean latent is
  estimated as ``x0_hat = a(t) x_t + b(t) prev + c(t) out``: ``a x_t + b prev`` is the best linear guess from the
  noisy frame (``x_t / (1 - t)`` is ``x0`` plus noise of scale ``t / (1 - t)``) and the previous frame (``x0``
  plus a change of typical size ``r = residual_std``), weighed by their variances: ``a = r^2 (1 - t) / D``,
  ``b = t^2 / D`` with ``D = r^2 (1 - t)^2 + t^2``, and ``c = r t / sqrt(D)`` is the size of what that guess still
  misses. At t = 1 the output is the change from the previous frame; at t = 0 the estimate is the input itself.
  The output layer starts at zero, so an untrained model copies the last frame. The loss is the error of
  ``x0_hat`` divided by ``c(t)``: the error of the output itself, of one size at every noise level (EDM's
  weighting).
- ``"velocity"``: the output is the velocity. The loss is the squared velocity error.
- ``"gated"``: a velocity with a copy gate. One more channel gives, per latent pixel, ``g = sigmoid(logit)``, and
  the clean latent is estimated as ``g prev + (1 - g) (x_t - t v_out)``, i.e. the velocity ``(1 - g) v_out + g
  (x_t - prev) / t``: a plain velocity head carries nothing through exactly; the gate keeps what did not change.
  Taken over from a velocity head, it starts with the gate nearly shut (``GATE_INIT``), i.e. as that model.

What each head scored is in the README ("What was tried").
"""

from __future__ import annotations

import torch
from torch import nn

GATE_INIT = -4.0  # a gated head's initial gate logit: sigmoid(-4) = 0.018, nearly the plain velocity head
MIN_T = 1e-3  # a velocity divides by the noise level: floor it (clean context frames have t = 0)


def _per_frame(t: torch.Tensor) -> torch.Tensor:
    """Noise levels (B, T) -> (B, T, 1, 1, 1), floored at MIN_T, to scale (B, T, C, h, w) maps."""
    return t.clamp_min(MIN_T)[..., None, None, None]


class Head:
    """The meaning of the DiT's output map; see the module doc. ``cfg``: the model's ``DiTConfig``."""

    name = ""
    needs_prev = False  # works from the previous frame's latent (needs ``prev_frame``)
    extra_channels = 0  # output channels beyond the latent's C
    takes_over: frozenset = frozenset()  # the heads whose output layer ``adapt_output`` can take over

    def __init__(self, cfg):
        self.cfg = cfg

    def init_output(self, layer: nn.Linear) -> None:
        """Initialise the output layer (adaLN-Zero: the zero map)."""
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)

    def velocity(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        """The velocity from the output map ``out`` (B, T, C + extra, h, w), the noisy input x (B, T, C, h, w),
        the noise levels t (B, T) and the previous frames' latents ``prev`` (B, T, C, h, w)."""
        raise NotImplementedError

    def error(self, v: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor):
        """The per-element training error (B, T, C, h, w) of a predicted velocity v; the loss is its square."""
        return v - (noise - x0)

    def adapt_output(self, donor: Head, weight: torch.Tensor, bias: torch.Tensor):
        """This head's output layer (weight, bias) made from a donor model's of head ``donor``, so that the new
        model starts from what the donor knows; ValueError if this head cannot take over ``donor``'s."""
        if donor.name == self.name:
            return weight, bias
        if donor.name not in self.takes_over:
            raise ValueError(f"a {self.name!r} head cannot start from a {donor.name!r} head "
                             f"(it takes over {sorted(self.takes_over) or 'no other head'})")  # fmt: skip
        return self._take_over(donor, weight, bias)

    def _take_over(self, donor: Head, weight: torch.Tensor, bias: torch.Tensor):
        raise NotImplementedError


class VelocityHead(Head):
    name = "velocity"

    def velocity(self, out, x, t, prev):
        return out


class ResidualHead(Head):
    name = "residual"
    needs_prev = True
    takes_over = frozenset({"velocity"})

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a, b, c) at noise levels t (B, T), each (B, T, 1, 1, 1): ``x0_hat = a x_t + b prev + c out``."""
        t = t.clamp(MIN_T, 1.0)[..., None, None, None]
        r2 = self.cfg.residual_std**2
        den = r2 * (1 - t) ** 2 + t**2
        return r2 * (1 - t) / den, t**2 / den, self.cfg.residual_std * t / den.sqrt()

    def velocity(self, out, x, t, prev):
        a, b, c = self.coefficients(t)
        x0 = a * x + b * prev + c * out
        return (x - x0) / _per_frame(t)

    def error(self, v, x_t, t, x0, noise):
        return (x_t - t[..., None, None, None] * v - x0) / self.coefficients(t)[2]  # the output's own error

    def _take_over(self, donor, weight, bias):  # from a velocity head: start as copying the last frame
        return torch.zeros_like(weight), torch.zeros_like(bias)


class GatedHead(Head):
    name = "gated"
    needs_prev = True
    extra_channels = 1
    takes_over = frozenset({"velocity"})

    def init_output(self, layer):
        super().init_output(layer)
        gates = self.cfg.patch**2
        nn.init.constant_(layer.bias[-gates:], GATE_INIT)  # the gate logits (the last p*p outputs): nearly shut

    def velocity(self, out, x, t, prev):
        g = torch.sigmoid(out[:, :, -1:])  # (B, T, 1, h, w): 1 keeps the previous frame's latent pixel
        copy = (x - prev) / _per_frame(t)  # the velocity that lands on prev
        return torch.lerp(out[:, :, :-1], copy, g)

    def _take_over(self, donor, weight, bias):  # from a velocity head: the same velocity, the gate nearly shut
        gates = self.cfg.patch**2
        return torch.cat([weight, weight.new_zeros(gates, weight.shape[1])]), torch.cat(
            [bias, bias.new_full((gates,), GATE_INIT)]
        )


HEADS: dict[str, type[Head]] = {h.name: h for h in (ResidualHead, VelocityHead, GatedHead)}
