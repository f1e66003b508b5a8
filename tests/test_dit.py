"""The DiT, the objective and the sampler on tiny configs."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from worldsim.diffusion import DiffusionConfig, diffusion_loss, sample_noise_levels
from worldsim.models.actions import ActionEmbedding, check_actions, space_from_json, space_to_json
from worldsim.models.dit import PRESETS, DiT, DiTConfig
from worldsim.sampler import Sampler, SamplerConfig

SPACE = gym.spaces.MultiDiscrete([5, 5, 4])


def tiny(space=SPACE, perturb=True, seed=0, output="residual") -> DiT:
    torch.manual_seed(seed)
    model = DiT(DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(space), output=output, **PRESETS["tiny"]))
    if perturb:  # leave the adaLN-Zero start so that every path carries signal
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


def inputs(b=2, t=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, 4, 4, 4, generator=g)
    ts = torch.rand(b, t, generator=g)
    a = torch.randint(0, 4, (b, t, 3), generator=g).float()
    has = torch.ones(b, t, dtype=torch.bool)
    has[:, 0] = False
    return x, ts, a, has


def test_shapes():
    v, r, term = tiny()(*inputs())
    assert v.shape == (2, 5, 4, 4, 4) and r.shape == (2, 5) and term.shape == (2, 5)


def test_zero_head_at_adaln_zero_init():
    """adaLN-Zero: the head starts at zero. A velocity head outputs zero; a residual head's clean frame is the
    previous frame's latent (the untrained model copies the last frame; zeros before the first frame)."""
    x, t, a, has = inputs()
    v, _, _ = tiny(perturb=False, output="velocity")(x, t, a, has)
    assert torch.count_nonzero(v) == 0
    model = tiny(perturb=False)
    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
    ones = torch.ones_like(t)
    v, _, _ = model(x, ones, a, has)  # from pure noise: the previous frame
    torch.testing.assert_close(x - v, prev, atol=1e-5, rtol=1e-5)
    v, _, _ = model(x, ones * 1e-6, a, has)  # (almost) clean: the input itself
    torch.testing.assert_close(x - 1e-6 * v, x, atol=1e-3, rtol=1e-3)
    v, _, _ = model(x, t, a, has)  # in between: the variance-weighted blend of the two
    ca, cb, _ = model.head.coefficients(t)
    torch.testing.assert_close(x - t[..., None, None, None] * v, ca * x + cb * prev, atol=1e-5, rtol=1e-5)


def test_residual_head_needs_the_previous_frame():
    with pytest.raises(ValueError, match="prev_frame"):
        DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(SPACE), prev_frame=False)
    with pytest.raises(ValueError, match="output must be one of"):
        DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(SPACE), output="x0")


def test_block_causal_later_frames_change_nothing_earlier():
    model = tiny()
    x, t, a, has = inputs()
    v1, r1, _ = model(x, t, a, has)
    x2, a2 = x.clone(), a.clone()
    x2[:, 3:] += 5.0
    a2[:, 3:] = 0
    v2, r2, _ = model(x2, t, a2, has)
    assert torch.allclose(v1[:, :3], v2[:, :3], atol=1e-5) and torch.allclose(r1[:, :3], r2[:, :3], atol=1e-5)
    assert not torch.allclose(v1[:, 3:], v2[:, 3:])


@pytest.mark.parametrize(
    "space", [gym.spaces.Discrete(3), gym.spaces.MultiDiscrete([2, 3]), gym.spaces.Box(-1, 1, (2,), np.float32)]
)
def test_any_action_space(space):
    assert space_from_json(space_to_json(space)) == space
    emb = ActionEmbedding(space, 8)
    width = 1 if isinstance(space, gym.spaces.Discrete) else int(np.prod(space.shape))
    out = emb(torch.ones(2, 3, width), torch.tensor([[False, True, True]] * 2))
    assert out.shape == (2, 3, 8) and torch.equal(out[:, 0], emb.none.expand(2, 8))
    model = tiny(space)
    v, _, _ = model(
        torch.randn(1, 2, 4, 4, 4), torch.rand(1, 2), torch.zeros(1, 2, width), torch.ones(1, 2, dtype=bool)
    )
    assert v.shape == (1, 2, 4, 4, 4)


def test_check_actions_names_the_bad_one():
    check_actions(SPACE, np.array([[1, 2, 3], [0, 0, 0]]))
    with pytest.raises(ValueError, match=r"action 1: \[5, 0, 0\] is outside"):
        check_actions(SPACE, np.array([[1, 2, 3], [5, 0, 0]]))


@pytest.mark.parametrize("output", ["residual", "velocity", "gated"])
def test_loss_and_gradients(output):
    model = tiny(perturb=False, output=output).train()
    x, _, a, has = inputs()
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.zeros(2, 5),
             "terminations": torch.zeros(2, 5, dtype=torch.bool)}  # fmt: skip
    loss, logs = diffusion_loss(model, batch, DiffusionConfig(), torch.Generator().manual_seed(0))
    loss.backward()
    assert np.isfinite(float(logs["loss"])) and model.patch_out.weight.grad.abs().sum() > 0


def test_previous_frame_level_can_be_fixed_at_the_samplers_and_is_checked():
    model = tiny(perturb=False, output="gated").train()
    x, _, a, has = inputs()
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.zeros(2, 5),
             "terminations": torch.zeros(2, 5, dtype=torch.bool)}  # fmt: skip
    seen = []
    hook = model.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs["prev"]), with_kwargs=True)
    for prev_t in (None, 0.05, 0.05):
        diffusion_loss(model, batch, DiffusionConfig(prev_t=prev_t), torch.Generator().manual_seed(0))
    hook.remove()
    drawn, fixed, again = seen
    assert torch.equal(fixed, again) and not torch.equal(drawn, fixed)  # the same stream, another level
    shifted = 0.95 * x[:, :-1]  # a fixed level 0.05: (1 - 0.05) x0 + 0.05 noise, the frame before each
    assert (fixed[:, 1:] - shifted).abs().max() < 0.05 * 6 and torch.equal(fixed[:, 0], torch.zeros_like(x[:, 0]))
    with pytest.raises(ValueError, match=r"diffusion.prev_t must be in \[0, 1\) or null, got 1.0"):
        DiffusionConfig(prev_t=1.0)


def test_blurred_context_softens_only_the_context_and_leaves_other_runs_unchanged():
    model = tiny(perturb=False, output="gated").train()
    x, _, a, has = inputs(b=8, t=6)
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.zeros(8, 6),
             "terminations": torch.zeros(8, 6, dtype=torch.bool)}  # fmt: skip
    seen = []
    hook = model.register_forward_hook(lambda m, args, kwargs, out: seen.append((args[0], args[1], kwargs["prev"])),
                                       with_kwargs=True)  # fmt: skip
    for cfg in (DiffusionConfig(), DiffusionConfig(context_blur_prob=0.0), DiffusionConfig(context_blur_prob=1.0)):
        diffusion_loss(model, batch, cfg, torch.Generator().manual_seed(0))
    hook.remove()
    (x_plain, t, prev_plain), (x_again, _, prev_again), (x_soft, t_soft, prev_soft) = seen
    assert torch.equal(x_plain, x_again) and torch.equal(prev_plain, prev_again)  # off: the same random stream
    assert torch.equal(t, t_soft)  # the noise levels and the context pattern are drawn before the blur
    ctx = t <= DiffusionConfig().context_max_t
    assert ctx.any() and (~ctx).any()
    assert torch.equal(x_plain[~ctx], x_soft[~ctx])  # targets are the real frames
    detail = lambda z: (z - z.mean(dim=(-2, -1), keepdim=True)).pow(2).mean()  # noqa: E731
    assert detail(x_soft[ctx]) < detail(x_plain[ctx])  # the context is softer
    assert detail(prev_soft[:, 1:]) < detail(prev_plain[:, 1:]) and torch.equal(prev_soft[:, 0], prev_plain[:, 0])
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(ValueError, match="diffusion.context_blur_prob must be a number in"):
            DiffusionConfig(context_blur_prob=bad)
    with pytest.raises(ValueError, match="diffusion.context_blur_max must be a number in"):
        DiffusionConfig(context_blur_max=2.0)


def test_one_prob_puts_that_share_of_targets_at_pure_noise_and_leaves_other_runs_unchanged():
    shape = (4000, 8)
    base, ctx = sample_noise_levels(shape, DiffusionConfig(), torch.Generator().manual_seed(0))
    again, _ = sample_noise_levels(shape, DiffusionConfig(one_prob=0.0), torch.Generator().manual_seed(0))
    assert torch.equal(base, again)  # one_prob=0 draws nothing extra: earlier runs keep their random stream
    t, ctx = sample_noise_levels(shape, DiffusionConfig(one_prob=0.3), torch.Generator().manual_seed(0))
    at_one = (t[~ctx] == 1.0).float().mean().item()
    assert 0.27 < at_one < 0.33, at_one
    assert (t[ctx] <= DiffusionConfig().context_max_t).all()  # context frames keep their light noise
    assert (base[~ctx] == 1.0).float().mean().item() < 0.01


def test_overfit_tiny_model_follows_the_action():
    """Frames are flat latents whose value the action sets; after overfitting, the action picks the next frame."""
    torch.manual_seed(0)
    space = gym.spaces.Discrete(3)
    model = tiny(space, perturb=False).train()
    levels = torch.tensor([-1.5, 0.0, 1.5])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    cfg = DiffusionConfig()
    for _ in range(150):
        a = torch.randint(0, 3, (16, 4), generator=g)
        x = levels[a][..., None, None, None].expand(16, 4, 4, 4, 4).clone()
        has = torch.ones(16, 4, dtype=torch.bool)
        has[:, 0] = False
        batch = {"latents": x, "actions": a[..., None].float(), "has_action": has,
                 "rewards": torch.zeros(16, 4), "terminations": torch.zeros(16, 4, dtype=torch.bool)}  # fmt: skip
        loss, _ = diffusion_loss(model, batch, cfg, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    means = []
    for action in range(3):
        s = Sampler(model, SamplerConfig(steps=4, context=3), 1, seeds=[0])
        s.reset([0], torch.full((1, 1, 4, 4, 4), 0.0))
        x, _, _ = s.step(torch.tensor([[float(action)]]))
        means.append(x.mean().item())
    assert means[0] < means[1] < means[2], means  # a different action, a different next frame
    assert abs(means[0] - levels[0].item()) < 0.5 and abs(means[2] - levels[2].item()) < 0.5, means


def test_previous_frame_input_and_warm_start_from_a_model_without_it():
    from dataclasses import replace

    donor = tiny(output="velocity")
    old_cfg = replace(donor.cfg, prev_frame=False)
    torch.manual_seed(1)
    old = DiT(old_cfg)
    with torch.no_grad():
        for p in old.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    new = DiT(donor.cfg)
    new.adapt_from(old.eval(), "old")
    x, t, a, has = inputs()
    for got, want in zip(new.eval()(x, t, a, has), old(x, t, a, has)):  # zero weights on the new input
        assert torch.allclose(got, want, atol=1e-5)
    # a model with the input does read the previous frame: changing frame 1 changes frame 2 at once
    y = x.clone()
    y[:, 1] += 1.0
    v1, v2 = donor(x, t, a, has)[0], donor(y, t, a, has)[0]
    assert not torch.allclose(v1[:, 2], v2[:, 2])
    with pytest.raises(ValueError, match="donor holds a DiT with config"):
        DiT(replace(donor.cfg, dim=64, heads=2)).adapt_from(donor, "donor")
    # a velocity head becomes a residual one: the same body and reward/termination heads, and a head at zero,
    # so the warm-started model copies the last frame until it learns the change
    res_cfg = replace(donor.cfg, output="residual")
    res = DiT(res_cfg)
    res.adapt_from(donor, "donor")
    v, r, term = res.eval()(x, torch.ones_like(t), a, has)
    _, r_old, term_old = donor(x, torch.ones_like(t), a, has)
    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
    torch.testing.assert_close(x - v, prev, atol=1e-5, rtol=1e-5)
    assert torch.allclose(r, r_old, atol=1e-6) and torch.allclose(term, term_old, atol=1e-6)
    with pytest.raises(ValueError, match="residual donor: a 'velocity' head cannot start from a 'residual'"):
        DiT(donor.cfg).adapt_from(res, "residual donor")


def test_gated_head_warm_starts_as_the_velocity_model_and_copies_with_the_gate_open():
    from dataclasses import replace

    from worldsim.models.heads import GATE_INIT

    donor = tiny(output="velocity")
    cfg = replace(donor.cfg, output="gated")
    gated = DiT(cfg)
    gated.adapt_from(donor, "donor")
    gated.eval()
    x, t, a, has = inputs()
    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
    v_old, r_old, term_old = donor(x, t, a, has)
    v, r, term = gated(x, t, a, has)
    # the same network, its clean-frame estimate moved toward the previous frame by the nearly shut gate
    g = torch.sigmoid(torch.tensor(GATE_INIT))
    x0_old = x - t[..., None, None, None] * v_old
    torch.testing.assert_close(x - t[..., None, None, None] * v, (1 - g) * x0_old + g * prev, atol=1e-4, rtol=1e-4)
    assert torch.equal(r, r_old) and torch.equal(term, term_old)
    with torch.no_grad():  # the gate wide open: the previous frame's latent, whatever the noise level
        gated.patch_out.bias[-(cfg.patch**2) :] = 50.0
    v, _, _ = gated(x, t, a, has)
    torch.testing.assert_close(x - t[..., None, None, None] * v, prev, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="gated donor"):
        DiT(donor.cfg).adapt_from(gated, "gated donor")
    with pytest.raises(ValueError, match="prev_frame"):
        replace(cfg, prev_frame=False).__post_init__()


def test_a_new_output_head_is_one_class():
    """A head that predicts the clean latent, added in one class: the DiT and the objective take it as it is."""
    from worldsim.diffusion import DiffusionConfig, diffusion_loss
    from worldsim.models.heads import HEADS, Head, _per_frame

    class CleanLatentHead(Head):
        name = "x0"

        def velocity(self, out, x, t, prev):
            return (x - out) / _per_frame(t)

        def error(self, v, x_t, t, x0, noise):
            return x_t - t[..., None, None, None] * v - x0

    HEADS["x0"] = CleanLatentHead
    try:
        model = tiny(perturb=False, output="x0")
        x, t, a, has = inputs()
        v, _, _ = model(x, t, a, has)  # the untrained head predicts a zero clean latent
        torch.testing.assert_close(x - t[..., None, None, None] * v, torch.zeros_like(x), atol=1e-4, rtol=1e-4)
        batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.zeros(t.shape),
                 "terminations": torch.zeros(t.shape)}  # fmt: skip
        loss, logs = diffusion_loss(model, batch, DiffusionConfig())
        loss.backward()
        assert torch.isfinite(loss) and model.patch_out.weight.grad.abs().sum() > 0
    finally:
        del HEADS["x0"]


def test_reward_classes_predict_the_worlds_values_and_train_by_cross_entropy():
    from dataclasses import replace

    from worldsim.diffusion import DiffusionConfig, diffusion_loss
    from worldsim.train.dit_batches import reward_class_weights, reward_values_of, termination_pos_weight

    assert reward_values_of(np.array([0.0, 1.0, 0.0, -1.0]), "auto") == (-1.0, 0.0, 1.0)
    assert reward_values_of(np.linspace(0, 1, 100), "auto") is None  # many values: regression
    assert reward_values_of(np.array([0.0, 1.0]), "regression") is None
    with pytest.raises(ValueError, match="at least two distinct"):
        reward_values_of(np.zeros(5), "classes")
    with pytest.raises(ValueError, match="reward_values"):
        DiTConfig(latent_shape=(4, 4, 4), action_space=space_to_json(SPACE), reward_values=(1.0, 0.0))
    torch.manual_seed(0)
    base = tiny()
    model = DiT(replace(base.cfg, reward_values=(-1.0, 0.0, 1.0)))
    model.adapt_from(base, "base")  # the body as it was, a fresh reward output layer
    torch.testing.assert_close(model.reward_head[0].weight, base.reward_head[0].weight)
    x, t, a, has = inputs()
    _, logits, _ = model(x, t, a, has)
    assert logits.shape == (*t.shape, 3)
    assert set(model.reward_value(logits).unique().tolist()) <= {-1.0, 0.0, 1.0}
    rewards = torch.tensor([[0.0, 1.0, 0.0, -1.0, 0.0]] * 2)
    assert model.reward_class(rewards).tolist() == [[1, 2, 1, 0, 1]] * 2
    w = reward_class_weights(model, np.array([0.0] * 97 + [1.0] * 2 + [-1.0]), 0.5)
    assert w[0] > w[2] > w[1]  # the rarer the class, the more it weighs; the mean weight over transitions is 1
    assert abs(float((torch.tensor([0.01, 0.97, 0.02]) * w).sum()) - 1.0) < 1e-5
    assert float(termination_pos_weight(np.array([True] + [False] * 99), 0.5)) == pytest.approx(99**0.5)
    assert termination_pos_weight(np.zeros(10, bool), 0.5) is None  # a world that never ends
    # a few hundred steps of the heads alone learn to tell the rewarded transitions by their action
    for p in model.parameters():
        p.requires_grad_(False)
    params = [*model.reward_head.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=3e-3)
    a = torch.randint(0, 4, (8, 5, 3)).float()
    batch = {
        "latents": torch.randn(8, 5, 4, 4, 4),
        "actions": a,
        "has_action": torch.ones(8, 5, dtype=torch.bool),
        "rewards": (a[..., 2] == 3).float() - (a[..., 2] == 2).float(),
        "terminations": torch.zeros(8, 5),
    }
    at_context_level = DiffusionConfig(context_prob=1.0, prefix_prob=0.0)  # as trainable=heads trains them
    for _ in range(200):
        loss, logs = diffusion_loss(model, batch, at_context_level, reward_class_weights=w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, logits, _ = model(batch["latents"], torch.zeros(8, 5), a, batch["has_action"])
    accuracy = (model.reward_value(logits) == batch["rewards"]).float().mean()
    assert accuracy > 0.9 > (batch["rewards"] == 0).float().mean(), accuracy  # well above "never a reward"
    # the sampler hands back the class's value
    from worldsim.sampler import Sampler, SamplerConfig

    s = Sampler(model.eval(), SamplerConfig(steps=2, context=3), 2, seeds=[0, 1])
    s.reset([0, 1], x[:, :3], a[:2, 1:3])
    _, r, p = s.step(a[:2, 3])
    assert set(r.tolist()) <= {-1.0, 0.0, 1.0} and r.shape == (2,) and p.shape == (2,)


def test_dreamed_batch_continues_each_window_with_the_models_own_rollout():
    from worldsim.sampler import SamplerConfig
    from worldsim.train.dit_batches import dreamed_batch

    model = tiny().train()
    x, t, a, has = inputs(b=3, t=5)
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.rand(3, 5), "terminations": has & False}
    out = dreamed_batch(model, batch, 2, SamplerConfig(steps=2, context=3), seed=7)
    assert model.training  # handed back as it came
    assert torch.equal(out["latents"][:, :2], x[:, :2]) and not torch.equal(out["latents"][:, 2:], x[:, 2:])
    assert out["rewards"] is batch["rewards"] and out["actions"] is batch["actions"]  # the real labels
    again = dreamed_batch(model, batch, 2, SamplerConfig(steps=2, context=3), seed=7)
    assert torch.equal(again["latents"], out["latents"])  # seeded
    assert "context" not in out


def test_dreamed_context_with_the_real_last_frame_as_the_only_target():
    from worldsim.sampler import SamplerConfig
    from worldsim.train.dit_batches import dreamed_batch

    model = tiny(perturb=False).train()
    x, _, a, has = inputs(b=3, t=5)
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": torch.zeros(3, 5),
             "terminations": torch.zeros(3, 5, dtype=torch.bool)}  # fmt: skip
    out = dreamed_batch(model, batch, 2, SamplerConfig(steps=2, context=3), seed=7, real_tail=1)
    lat = out["latents"]
    assert torch.equal(lat[:, :2], x[:, :2]) and torch.equal(lat[:, 4], x[:, 4])  # real start, real target
    assert not torch.equal(lat[:, 2:4], x[:, 2:4])  # dreamed between
    assert out["context"].tolist() == [[True, True, True, True, False]] * 3
    with pytest.raises(ValueError, match="keep must be in"):
        dreamed_batch(model, batch, 4, SamplerConfig(steps=2, context=3), seed=7, real_tail=1)
    tail = dreamed_batch(model, batch, 2, SamplerConfig(steps=2, context=3), seed=7, real_tail=2)
    assert torch.equal(tail["latents"][:, 3:], x[:, 3:]) and torch.equal(tail["latents"][:, 2], lat[:, 2])  # seeded
    assert tail["context"].tolist() == [[True, True, True, False, False]] * 3
    with pytest.raises(ValueError, match="real_tail must be in"):
        dreamed_batch(model, batch, 1, SamplerConfig(steps=2, context=3), seed=7, real_tail=5)
    # the frame loss is the real last frame's: changing that frame moves it (the earlier frames reach it only as
    # context, through attention and the previous-frame input)
    cfg = DiffusionConfig(one_prob=0.0)

    def flow(latents):
        _, logs = diffusion_loss(model, {**out, "latents": latents}, cfg, torch.Generator().manual_seed(0))
        return float(logs["flow"])

    base = flow(lat)
    moved_last = lat.clone()
    moved_last[:, 4] += 1.0
    assert abs(flow(moved_last) - base) > 1e-3
    levels, ctx = sample_noise_levels((3, 5), cfg, torch.Generator().manual_seed(0), context=out["context"])
    assert torch.equal(ctx, out["context"]) and (levels[:, :4] <= cfg.context_max_t).all()


def test_heads_learn_only_from_the_labelled_frames():
    from worldsim.train.dit_batches import dreamed_batch

    model = tiny(perturb=False).train()
    x, _, a, has = inputs(b=3, t=5)
    rewards = torch.zeros(3, 5)
    batch = {"latents": x, "actions": a, "has_action": has, "rewards": rewards,
             "terminations": torch.zeros(3, 5, dtype=torch.bool)}  # fmt: skip
    out = dreamed_batch(model, batch, 2, SamplerConfig(steps=2, context=3), seed=7, real_tail=1)
    assert out["dreamed"].tolist() == [[False, False, True, True, False]] * 3  # the frames the model drew
    cfg = DiffusionConfig()

    def reward_loss(b):
        return float(diffusion_loss(model, b, cfg, torch.Generator().manual_seed(0))[1]["reward"])

    real_only = {**out, "labelled": ~out["dreamed"]}
    wrong_on_dreams = {**real_only, "rewards": rewards.index_put((torch.arange(3), torch.full((3,), 2)),
                                                                 torch.full((3,), 5.0))}  # fmt: skip
    assert reward_loss(wrong_on_dreams) == reward_loss(real_only)  # a dreamed frame's label teaches nothing
    assert reward_loss({**wrong_on_dreams, "labelled": torch.ones(3, 5, dtype=torch.bool)}) > reward_loss(real_only)


def test_the_critic_tells_a_blurred_frame_from_a_real_one_and_pulls_only_the_prediction():
    import torch.nn.functional as F

    from worldsim.train.adversarial import AdversarialConfig, Adversary

    torch.manual_seed(0)
    x0 = torch.randn(16, 3, 4, 8, 8)
    blurred = F.avg_pool2d(x0.flatten(0, 1), 3, stride=1, padding=1, count_include_pad=False).view_as(x0)
    x0_hat = blurred.clone().requires_grad_(True)
    outputs = {"x0": x0, "x0_hat": x0_hat, "t": torch.rand(16, 3), "target": torch.ones(16, 3, dtype=torch.bool)}
    adv = Adversary(4, AdversarialConfig(weight=0.5, lr=1e-3, warmup=10, min_t=0.5), "cpu")
    for _ in range(80):
        logs = adv.critic_step(outputs)
    assert logs["critic_gap"] > 0.5  # real frames score above blurred ones
    term, value = adv.generator_loss(outputs, step=5)
    assert torch.isclose(term, 0.5 * 0.5 * value)  # weight, ramped half way over the warm-up
    term.backward()
    judged = (outputs["t"] >= 0.5)[..., None, None, None].expand_as(x0).clone()
    judged[:, 0] = False  # the first frame has no frame before it to be judged with
    assert x0_hat.grad[judged].abs().sum() > 0 and x0_hat.grad[~judged].abs().sum() == 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in adv.critic.parameters())  # the critic is not pulled
