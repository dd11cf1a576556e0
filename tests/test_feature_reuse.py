"""Tests of `metalearn_edu.meta.feature_reuse`: adapted sets at test time and linear CKA."""

import pytest
import torch

from metalearn_edu.meta import TextClassifierLoss, select_params
from metalearn_edu.meta.evaluation import evaluate_adaptation
from metalearn_edu.meta.feature_reuse import adaptation_cka, evaluate_adapted_set, layer_features, linear_cka
from metalearn_edu.meta.inner_loop import adapt
from metalearn_edu.meta.text import evaluate_text_adaptation

from helpers import snapshot, text_episode, unchanged


def _reference_cka(x, y):
    """CKA through the Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = XXᵀ, L = YYᵀ, centred by H."""
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l = h @ (x.double() @ x.double().T) @ h, h @ (y.double() @ y.double().T) @ h
    return float((k * l).sum() / torch.sqrt((k * k).sum() * (l * l).sum()))


def test_linear_cka_equals_the_gram_matrix_form_and_ignores_rotation_and_scale(gen):
    x, y = torch.randn(30, 6, generator=gen), torch.randn(30, 4, generator=gen)
    assert linear_cka(x, y) == pytest.approx(_reference_cka(x, y), rel=1e-9)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen))
    assert linear_cka(x, 2.5 * x @ q + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 <= linear_cka(x, y) < 0.6  # unrelated features are far from 1
    with pytest.raises(ValueError, match="same n"):
        linear_cka(x, y[:10])


def test_adapted_sets_share_step_zero_and_top1_is_the_course_protocol(tiny_encoder):
    model = tiny_encoder(0).eval()
    episodes = [text_episode(i) for i in range(3)]
    before = snapshot(model)
    curves = {a: evaluate_adapted_set(model, episodes, a, inner_lr=0.3, inner_steps=2) for a in ("head", "top1", "all")}
    assert unchanged(model, before)
    assert curves["head"].per_episode[0][0] == curves["all"].per_episode[0][0] == curves["top1"].per_episode[0][0]
    protocol = evaluate_text_adaptation(model, episodes, 0.3, 2)
    assert curves["top1"].per_episode == protocol.per_episode
    # "all" is the full inner loop over every parameter, run without the lower-block shortcut
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    full = evaluate_adaptation(loss_fn, {n: p.detach() for n, p in model.named_parameters()}, episodes, 0.3, 2,
                               adapt_names=select_params(model, "all"), vectorize=False)
    for a, b in zip(curves["all"].per_episode, full.per_episode):
        assert a == pytest.approx(b, abs=1e-6)
    with pytest.raises(ValueError, match="adapted='top2'"):
        evaluate_adapted_set(model, episodes, "top2")


def test_cka_is_one_where_the_inner_loop_moved_nothing_and_below_one_where_it_did(tiny_encoder):
    model = tiny_encoder(1).eval()
    episodes = [text_episode(i, k=3) for i in range(2)]
    head_only = adaptation_cka(model, episodes, inner_lr=0.5, inner_steps=2, adapted="head")
    assert all(v == pytest.approx(1.0, abs=1e-9) for row in head_only for v in row)  # the encoder never moves
    moved = adaptation_cka(model, episodes, inner_lr=0.5, inner_steps=2, adapted="all")
    assert len(moved) == 2 and len(moved[0]) == model.cfg.n_layers + 1
    assert min(v for row in moved for v in row) < 0.999
    # the last value is CKA of the features the head reads, before and after the same inner loop
    ep = episodes[0]
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    theta = {n: p.detach() for n, p in model.named_parameters()}
    phi = adapt(loss_fn, loss_fn.episode_params(theta, ep), ep.support, 0.5, 2, first_order=True,
                adapt_names=select_params(model, "all"), track_loss=False).params[-1]
    pooled = [loss_fn.features(p, ep.query_x, ep.query_mask).detach() for p in (theta, phi)]
    assert moved[0][-1] == pytest.approx(linear_cka(*pooled), abs=1e-6)
    assert len(layer_features(model, theta, ep.query_x, ep.query_mask)) == model.cfg.n_layers + 1
