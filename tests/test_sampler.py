"""The sampler on a tiny DiT: the KV cache against the full recomputation, seeds, long rollouts, the contrast floor."""

import pytest
import torch
from test_dit import tiny

from worldsim.sampler import Sampler, SamplerConfig


def run_sampler(model, use_cache, seeds=(1, 2, 3), steps=4, rows=None):
    """Roll out 3 sequences (or only ``rows`` of them, as a smaller batch) from fixed contexts and actions."""
    rows = list(range(3)) if rows is None else rows
    ctx = torch.randn(3, 2, 4, 4, 4, generator=torch.Generator().manual_seed(9))[rows]
    acts = torch.randint(0, 4, (3, 1, 3), generator=torch.Generator().manual_seed(8)).float()[rows]
    s = Sampler(model, SamplerConfig(steps=3, context=6, context_noise=0.05), len(rows), seeds=list(seeds))
    s.reset(range(len(rows)), ctx, acts)
    out = []
    for k in range(steps):
        a = torch.randint(0, 4, (3, 3), generator=torch.Generator().manual_seed(k)).float()[rows]
        out.append(s.step(a, use_cache=use_cache))
    return out


@pytest.mark.parametrize("output", ["residual", "gated"])
def test_kv_cache_matches_uncached_computation(output):
    model = tiny(output=output)
    for (x1, r1, p1), (x2, r2, p2) in zip(run_sampler(model, True), run_sampler(model, False)):
        # float32 round-off only: the perturbed tiny model's outputs reach tens, so the tolerance is relative
        assert torch.allclose(x1, x2, rtol=1e-4, atol=1e-4) and torch.allclose(r1, r2, rtol=1e-4, atol=1e-4)
        assert torch.allclose(p1, p2, rtol=1e-4, atol=1e-5)


def test_sampler_deterministic_and_batch_equals_single():
    model = tiny()
    a, b = run_sampler(model, True), run_sampler(model, True)
    assert all(torch.equal(x, y) for (x, _, _), (y, _, _) in zip(a, b))
    single = run_sampler(model, True, seeds=(2,), rows=[1])  # sequence 1 of the batch, alone
    for (xb, rb, _), (xs, rs, _) in zip(a, single):
        assert torch.allclose(xb[1:2], xs, atol=1e-4, rtol=1e-4) and torch.allclose(rb[1:2], rs, atol=1e-4, rtol=1e-4)
    c = run_sampler(model, True, seeds=(5, 6, 7))
    assert not torch.equal(a[0][0], c[0][0])


def test_sampler_from_nothing_and_long_rollouts():
    model = tiny()
    s = Sampler(model, SamplerConfig(steps=2, context=3), 2, seeds=[0, 1])
    s.reset([0, 1])  # generate first frames from noise
    for _ in range(8):  # well past the window: the ring buffer slides
        x, r, p = s.step(torch.zeros(2, 3))
    assert x.shape == (2, 4, 4, 4) and torch.isfinite(x).all() and ((p >= 0) & (p <= 1)).all()
    assert int(s.count[0]) == 8 and bool(s.valid.all())
    s.reset([1], torch.randn(1, 5, 4, 4, 4), torch.zeros(1, 4, 3))  # a clip longer than the context
    assert int(s.count[1]) == 3 and int(s.count[0]) == 8


def test_sampler_config_checks():
    with pytest.raises(ValueError, match="1 to 8"):
        SamplerConfig(steps=9)
    assert SamplerConfig(steps=4).schedule()[0] == 1.0 and SamplerConfig(steps=4).schedule()[-1] == 0.0


def test_contrast_floor_raises_flat_frames_and_leaves_the_rest():
    from worldsim.sampler import latent_std_floor, raise_std

    x0 = torch.randn(2, 4, 4, 4) * torch.tensor([0.1, 2.0, 0.5, 1.0]).view(1, 4, 1, 1) + 3.0
    floor = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 4, 1, 1)
    y = raise_std(x0, floor)
    std, was = y.std(dim=(2, 3)), x0.std(dim=(2, 3))
    assert torch.allclose(std[:, [0, 2]], torch.ones(2, 2), atol=1e-4)  # flat channels stretched up to the floor
    assert torch.allclose(y[:, [1, 3]], x0[:, [1, 3]])  # channels above their floor untouched
    assert torch.allclose(y.mean(dim=(2, 3)), x0.mean(dim=(2, 3)), atol=1e-5)  # about their own mean
    assert (std >= was - 1e-5).all()
    real = torch.randn(100, 4, 4, 4) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    lo = latent_std_floor(real, 0.1)
    assert len(lo) == 4 and lo[0] < lo[1] < lo[2] < lo[3]
    with pytest.raises(ValueError, match=r"quantile must be in \(0, 1\)"):
        latent_std_floor(real, 1.5)


def test_sampler_with_a_contrast_floor():
    model = tiny()
    ctx = torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(9))

    def roll(floor, steps=2, n=6):
        s = Sampler(model, SamplerConfig(steps=steps, context=4, std_floor=floor), 2, seeds=[0, 1])
        s.reset([0, 1], ctx, torch.zeros(2, 2, 3))
        return torch.stack([s.step(torch.ones(2, 3))[0] for _ in range(n)], 1)

    plain = roll(None)
    assert torch.allclose(roll([0.0] * 4), plain, atol=1e-4)  # a zero floor is the plain Euler step
    high = [float(plain.std(dim=(3, 4)).max()) * 2] * 4
    for steps in (1, 2, 4):  # every frame comes out at least as contrasted as the floor, at any step count
        assert (roll(high, steps).std(dim=(3, 4)) >= high[0] * 0.999).all()
    with pytest.raises(ValueError, match="std_floor has 3 values, but the model's latents have 4 channels"):
        Sampler(model, SamplerConfig(std_floor=[1.0, 1.0, 1.0]), 1)
    for bad in ("0.5", [-1.0, 0, 0, 0], [float("nan")] * 4, [], 0.3):
        with pytest.raises(ValueError, match="std_floor"):
            SamplerConfig(std_floor=bad)


def test_cpu_attention_over_a_cache_equals_the_fused_kernel():
    from worldsim.models.dit import attend_cpu

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, n, 8, generator=g) for n in (4, 20, 20))
    mask = torch.ones(3, 1, 1, 20, dtype=torch.bool)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(attend_cpu(q, k, v, mask), ref, atol=1e-6)
    mask[1, ..., :7] = False  # a sequence whose window is not full yet
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(attend_cpu(q, k, v, mask), ref, atol=1e-6)
    assert torch.allclose(attend_cpu(q, k, v, None), torch.nn.functional.scaled_dot_product_attention(q, k, v),
                          atol=1e-6)  # fmt: skip


def test_colour_band_holds_a_drifting_frame_within_the_real_range_and_leaves_the_rest():
    from worldsim.sampler import hold_mean, latent_mean_band

    x0 = torch.randn(2, 4, 4, 4) + torch.tensor([5.0, -5.0, 0.2, 0.0]).view(1, 4, 1, 1)
    lo, hi = torch.full((1, 4, 1, 1), -1.0), torch.full((1, 4, 1, 1), 1.0)
    y = hold_mean(x0, lo, hi)
    mean = y.mean(dim=(2, 3))
    inside = (x0.mean(dim=(2, 3)) > -1) & (x0.mean(dim=(2, 3)) < 1)
    assert torch.allclose(y[inside], x0[inside])  # channels within the band untouched
    assert torch.allclose(mean[:, 0], torch.ones(2)) and torch.allclose(mean[:, 1], -torch.ones(2))  # to the edge
    assert torch.allclose(y.std(dim=(2, 3)), x0.std(dim=(2, 3)), atol=1e-5)  # shifted, not stretched
    real = torch.randn(200, 4, 4, 4) + torch.arange(4.0).view(1, 4, 1, 1)
    band = latent_mean_band(real, 0.01)
    assert len(band) == 4 and all(a < b for a, b in band) and band[0][1] < band[3][1]
    for bad in (0.5, 0.0, -0.1):
        with pytest.raises(ValueError, match=r"quantile must be in \(0, 0.5\)"):
            latent_mean_band(real, bad)


def test_sampler_with_a_colour_band():
    model = tiny()
    ctx = torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(9))

    def roll(band, steps=2, n=6, floor=None):
        s = Sampler(model, SamplerConfig(steps=steps, context=4, mean_band=band, std_floor=floor), 2, seeds=[0, 1])
        s.reset([0, 1], ctx, torch.zeros(2, 2, 3))
        return torch.stack([s.step(torch.ones(2, 3))[0] for _ in range(n)], 1)

    plain = roll(None)
    assert torch.allclose(roll([[-1e6, 1e6]] * 4), plain, atol=1e-4)  # a band no frame meets changes nothing
    for steps in (1, 2, 4):  # every frame's channel means come out within a band, at any step count
        means = roll([[0.25, 0.5]] * 4, steps, floor=[0.5] * 4).mean(dim=(3, 4))
        assert (means >= 0.25 - 1e-4).all() and (means <= 0.5 + 1e-4).all()
    with pytest.raises(ValueError, match="mean_band has 3 pairs, but the model's latents have 4 channels"):
        Sampler(model, SamplerConfig(mean_band=[[0.0, 1.0]] * 3), 1)
    for bad in ("0.5", [[1.0, 0.0]] * 4, [[0.0, float("nan")]] * 4, [], [0.3] * 4, [[0.0, 1.0, 2.0]] * 4, 0.3):
        with pytest.raises(ValueError, match="mean_band"):
            SamplerConfig(mean_band=bad)
