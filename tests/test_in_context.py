"""The in-context (black-box) learners, the causal mask they add to the attention, and the induction-head tools."""

import math
from pathlib import Path

import pytest
import torch

from metalearn_edu.episodes import Episode, SinusoidTasks
from metalearn_edu.meta.in_context import (
    AttentionOnlyLM,
    FeatureEpisodes,
    InContextClassifier,
    InContextConfig,
    InContextRegressor,
    classification_accuracy,
    head_scores,
    load_in_context_model,
    permute_labels,
    previous_token_scores,
    regression_mse,
    repeated_segments,
    save_in_context_model,
    train_in_context_classifier,
    train_in_context_regressor,
    train_induction_model,
)
from metalearn_edu.model import MultiHeadSelfAttention, causal_mask
from metalearn_edu.config import ModelConfig

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "in_context"
SMALL = InContextConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64)


def regressor(seed: int = 0) -> InContextRegressor:
    torch.manual_seed(seed)
    return InContextRegressor(SMALL).eval()


def classifier(seed: int = 0, d_feature: int = 16) -> InContextClassifier:
    torch.manual_seed(seed)
    return InContextClassifier(d_feature, n_labels=5, cfg=SMALL).eval()


# ---------------------------------------------------------------------------------------
# Shapes and the set-encoder's symmetries
# ---------------------------------------------------------------------------------------
def test_regressor_shapes_batched_and_unbatched():
    model = regressor()
    ep = SinusoidTasks(seed=0).episode(0, k_shot=6, k_query=9)
    assert model(ep.support_x, ep.support_y, ep.query_x).shape == (9, 1)
    batch = SinusoidTasks(seed=0).batch(0, 4, k_shot=6, k_query=9, stacked=True).stacked
    out, attentions = model(batch.support_x, batch.support_y, batch.query_x, return_attention=True)
    assert out.shape == (4, 9, 1)
    assert len(attentions) == SMALL.n_layers and attentions[0].shape == (4, SMALL.n_heads, 6 + 9, 6)
    # every token's attention is a distribution over the K support tokens only
    assert torch.allclose(attentions[0].sum(-1), torch.ones(4, SMALL.n_heads, 15), atol=1e-5)
    # the unbatched call is the batched call's first row
    assert torch.allclose(model(batch.support_x[1], batch.support_y[1], batch.query_x[1]), out[1], atol=1e-5)


def test_permuting_the_support_set_leaves_predictions_unchanged():
    model = regressor()
    ep = SinusoidTasks(seed=3).episode(2, k_shot=10, k_query=20)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    a = model(ep.support_x, ep.support_y, ep.query_x)
    b = model(ep.support_x[perm], ep.support_y[perm], ep.query_x)
    assert torch.allclose(a, b, atol=1e-5)
    # ...while changing one support label does change them (the support set is read)
    changed = ep.support_y.clone()
    changed[0] += 3.0
    assert not torch.allclose(a, model(ep.support_x, changed, ep.query_x), atol=1e-3)


def test_a_query_does_not_see_the_other_queries():
    model = regressor()
    ep = SinusoidTasks(seed=3).episode(2, k_shot=5, k_query=20)
    alone = model(ep.support_x, ep.support_y, ep.query_x[:1])
    together = model(ep.support_x, ep.support_y, ep.query_x)[:1]
    assert torch.allclose(alone, together, atol=1e-5)


def test_classifier_shapes_and_permutation_invariance():
    model = classifier()
    g = torch.Generator().manual_seed(0)
    sf, qf = torch.randn(10, 16, generator=g), torch.randn(7, 16, generator=g)
    sy = torch.arange(5).repeat(2)
    logits = model(sf, sy, qf)
    assert logits.shape == (7, 5)
    assert model(sf[:6], torch.tensor([0, 1, 2, 0, 1, 2]), qf, n_way=3).shape == (7, 3)
    perm = torch.randperm(10, generator=g)
    assert torch.allclose(logits, model(sf[perm], sy[perm], qf), atol=1e-5)


# ---------------------------------------------------------------------------------------
# Errors that name the parameter and the allowed range
# ---------------------------------------------------------------------------------------
def test_bad_sizes_raise_clear_errors():
    model = regressor()
    x = torch.zeros(3, 1)
    with pytest.raises(ValueError, match=r"K=0.*1 ≤ K"):
        model(torch.zeros(0, 1), torch.zeros(0, 1), x)
    with pytest.raises(ValueError, match="support_x and support_y"):
        model(torch.zeros(4, 2), torch.zeros(4, 2), x)
    with pytest.raises(ValueError, match="query_x"):
        model(torch.zeros(4, 1), torch.zeros(4, 1), torch.zeros(0, 1))
    with pytest.raises(ValueError, match=r"K=6.*max_support=5"):
        InContextRegressor(SMALL, max_support=5)(torch.zeros(6, 1), torch.zeros(6, 1), x)
    clf = classifier()
    with pytest.raises(ValueError, match=r"n_way=6.*2 ≤ n_way ≤ 5"):
        clf(torch.zeros(5, 16), torch.arange(5), torch.zeros(2, 16), n_way=6)
    with pytest.raises(ValueError, match=r"labels 0\.\.4.*0\.\.2"):
        clf(torch.zeros(5, 16), torch.arange(5), torch.zeros(2, 16), n_way=3)
    with pytest.raises(ValueError, match="d_feature=16"):
        clf(torch.zeros(5, 8), torch.arange(5), torch.zeros(2, 8))
    with pytest.raises(ValueError, match="n_heads"):
        InContextConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match=r"k_range\[1\]=2.*at least k_range\[0\]=5"):
        train_in_context_regressor(regressor(), SinusoidTasks(), steps=1, k_range=(5, 2))
    with pytest.raises(ValueError, match=r"seq_len=65.*max_len=64"):
        AttentionOnlyLM(max_len=64)(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match=r"segment_range\[1\]=20.*seq_len=30"):
        repeated_segments(2, 30, 64, (4, 20))


# ---------------------------------------------------------------------------------------
# A trained learner must read its support set
# ---------------------------------------------------------------------------------------
def blind_sine_mse(episodes: list[Episode]) -> float:
    """MSE of the best predictor that ignores the support set: E[y | x] = E[A]·E[sin(x − φ)] = −2·E[A]·cos(x)/π
    for A ~ U[0.1, 5], φ ~ U[0, π]."""
    mean_amplitude = (0.1 + 5.0) / 2
    errors = [float(((-2 * mean_amplitude * torch.cos(ep.query_x) / math.pi - ep.query_y) ** 2).mean())
              for ep in episodes]
    return sum(errors) / len(errors)


def test_the_shipped_regressor_beats_every_support_blind_predictor():
    """A learner that ignored its support set could do no better than E[y | x]; the shipped one is far below it."""
    model = load_in_context_model(SHIPPED / "sinusoid-seed0.pt")
    test = [SinusoidTasks(seed=10_000).episode(i, k_shot=10, k_query=50) for i in range(200)]
    mse, blind = sum(regression_mse(model, test)) / 200, blind_sine_mse(test)
    assert 2.5 < blind < 3.5  # the analytic blind predictor's error (a check of the baseline itself)
    assert mse < 0.1 * blind, (mse, blind)
    # and it is the support set that does it: the same queries with another task's support set
    other = [Episode(test[i - 1].support_x, test[i - 1].support_y, ep.query_x, ep.query_y) for i, ep in enumerate(test)]
    assert sum(regression_mse(model, other)) / 200 > blind


def gaussian_pool(n: int = 200, n_way: int = 5, per_class: int = 10, d: int = 16, seed: int = 0) -> FeatureEpisodes:
    """Episodes of Gaussian clusters: each class a random centre, examples = centre + noise."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n, n_way, 1, d, generator=g)
    return FeatureEpisodes(centres + 0.5 * torch.randn(n, n_way, per_class, d, generator=g))


def pool_episodes(pool: FeatureEpisodes, k: int, seed: int) -> list[Episode]:
    g = torch.Generator().manual_seed(seed)
    sf, sy, qf, qy = pool.sample(torch.arange(pool.features.shape[0]), k, 5, g)
    sy, qy = permute_labels(sy, qy, pool.n_way, g)
    return [Episode(sf[i], sy[i], qf[i], qy[i]) for i in range(sf.shape[0])]


def test_a_trained_classifier_reads_the_labels_of_its_support_set():
    """New clusters and freshly permuted labels: a learner that ignores the support set is at chance (0.2)."""
    torch.manual_seed(0)
    model = InContextClassifier(16, n_labels=5, cfg=InContextConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64))
    train_in_context_classifier(model, gaussian_pool(seed=0), steps=150, batch_size=16, lr=3e-3)
    test = pool_episodes(gaussian_pool(n=50, seed=1), k=3, seed=2)
    accuracy = sum(classification_accuracy(model, test)) / len(test)
    assert accuracy > 0.8, accuracy
    # the same episodes with the support labels shuffled against the examples: the learner follows the labels
    shuffled = [Episode(ep.support_x, ep.support_y[torch.randperm(len(ep.support_y),
                                                                   generator=torch.Generator().manual_seed(i))],
                        ep.query_x, ep.query_y) for i, ep in enumerate(test)]
    assert sum(classification_accuracy(model, shuffled)) / len(test) < 0.5


def test_pool_sampling_keeps_examples_with_their_class():
    pool = gaussian_pool(n=3, per_class=6)
    g = torch.Generator().manual_seed(0)
    sf, sy, qf, qy = pool.sample(torch.tensor([2, 0]), 2, 3, g)
    assert sf.shape == (2, 10, 16) and qf.shape == (2, 15, 16)
    psy, pqy = permute_labels(sy, qy, 5, g)
    for b, e in enumerate((2, 0)):
        for feats, labels, plabels in ((sf[b], sy[b], psy[b]), (qf[b], qy[b], pqy[b])):
            for f, c in zip(feats, labels):  # every feature vector is one of its class's examples
                assert (pool.features[e, c] == f).all(-1).any()
        # the permutation is one renaming, shared by support and query
        mapping = {int(a): int(p) for a, p in zip(torch.cat([sy[b], qy[b]]), torch.cat([psy[b], pqy[b]]))}
        assert sorted(mapping.values()) == list(range(5))
    with pytest.raises(ValueError, match="k_shot \\+ q_query = 7"):
        pool.sample(torch.tensor([0]), 4, 3)


def test_save_and_load_round_trip(tmp_path):
    model = regressor()
    ep = SinusoidTasks(seed=0).episode(0, k_shot=5, k_query=5)
    loaded = load_in_context_model(save_in_context_model(model, tmp_path / "r.pt", note="x"))
    assert isinstance(loaded, InContextRegressor)
    assert torch.allclose(loaded.predict(ep), model.predict(ep), atol=0.05)  # fp16 weights
    clf = classifier()
    loaded = load_in_context_model(save_in_context_model(clf, tmp_path / "c.pt", half=False))
    sf, qf = torch.randn(5, 16), torch.randn(3, 16)
    assert torch.equal(loaded(sf, torch.arange(5), qf), clf(sf, torch.arange(5), qf))


def test_wider_amplitudes_keep_the_task_phases():
    """The out-of-distribution sampler: the same draws, amplitudes mapped to the new range."""
    base, wide = SinusoidTasks(seed=10_000), SinusoidTasks(amplitude=(5.0, 10.0), seed=10_000)
    for i in range(50):
        a, b = base.episode(i, 5, 5), wide.episode(i, 5, 5)
        assert 5.0 <= b.info["amplitude"] <= 10.0
        assert b.info["phase"] == a.info["phase"] and torch.equal(a.support_x, b.support_x)
        assert math.isclose((b.info["amplitude"] - 5.0) / 5.0, (a.info["amplitude"] - 0.1) / 4.9, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------
# Causal attention and induction heads
# ---------------------------------------------------------------------------------------
def test_causal_mask_hides_the_future_on_both_attention_paths():
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(ModelConfig(vocab_size=1, d_model=16, n_heads=2, d_ff=1, dropout=0.0,
                                              attn_dropout=0.0)).eval()
    x = torch.randn(2, 6, 16)
    later = x.clone()
    later[:, 4:] = torch.randn(2, 2, 16)
    mask = causal_mask(2, 6)
    fused = attn(x, key_mask=mask, impl="fused")[0]
    explicit, weights = attn(x, key_mask=mask, impl="explicit", return_attention=True)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert torch.allclose(attn(later, key_mask=mask)[0][:, :4], fused[:, :4], atol=1e-5)
    assert (weights.triu(diagonal=1) == 0).all()


def test_repeated_segments_repeat_with_their_own_length():
    ids, lengths = repeated_segments(8, 40, 64, (4, 12), torch.Generator().manual_seed(0))
    assert ids.shape == (8, 40)
    for row, L in zip(ids, lengths):
        L = int(L)
        assert 4 <= L <= 12
        assert torch.equal(row[L:], row[:-L])
        assert len(set(row[:L].tolist())) == L  # distinct tokens inside a segment


def test_head_scores_on_hand_made_attention():
    T, L = 10, 4
    lengths = torch.tensor([L])
    induction = torch.zeros(1, 2, T, T)
    previous = torch.zeros(1, 2, T, T)
    for t in range(T):
        induction[0, 0, t, t - L + 1 if t >= L else 0] = 1.0
        induction[0, 1, t, t] = 1.0  # head 1: attends to itself
        previous[0, :, t, max(t - 1, 0)] = 1.0
    scores = head_scores([induction], lengths, offset=1)
    assert scores.shape == (1, 2) and scores[0, 0] == 1.0 and scores[0, 1] == 0.0
    assert head_scores([induction], lengths, offset=0)[0, 0] == 0.0
    assert torch.allclose(previous_token_scores([previous]), torch.ones(1, 2))


@pytest.mark.slow
def test_an_induction_head_forms():
    torch.manual_seed(0)
    model = AttentionOnlyLM()
    history = train_induction_model(model, steps=600, seed=0, eval_every=50)
    assert history["induction"][0] < 0.1  # no head does it at the start
    assert history["induction"][-1] > 0.3
    assert history["repeat_loss"][-1] < 0.3 * math.log(64)  # the repeats became predictable


# ---------------------------------------------------------------------------------------
# Chapter 9's plots and panel
# ---------------------------------------------------------------------------------------
def test_condition_errors_and_phase_change_plots():
    from metalearn_edu import viz

    table = {"a": {"x": {"mean": 0.1, "half": 0.2}, "y": {"mean": 1.0, "half": 0.1}}, "b": {"x": {"mean": 3.0, "half": 0.5}}}
    fig = viz.plot_condition_errors(table, ["a", "b"], ["x", "y"], labels={"a": "in", "b": "out"})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["in", "out"]
    assert len(ax.patches) == 3  # the missing cell (b, y) is left empty
    with pytest.raises(ValueError, match="at least one condition"):
        viz.plot_condition_errors(table, [], ["x"])
    fig = viz.plot_phase_change({"step": [10, 20], "repeat_loss": [4.0, 0.5], "induction": [0.05, 0.6]}, chance=4.16)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="induction"):
        viz.plot_phase_change({"step": [1], "repeat_loss": [1.0]})


def test_in_context_panel_renders_both_learners_and_reports_bad_settings():
    pytest.importorskip("ipywidgets")
    from metalearn_edu.meta import load_sinusoid_models
    from metalearn_edu.widgets import in_context_playground, render_in_context

    learner = load_in_context_model(SHIPPED / "sinusoid-seed0.pt")
    networks = load_sinusoid_models(SHIPPED.parent / "sinusoid")
    fig = render_in_context(learner, networks, "fomaml", 5, 3.0)
    assert len(fig.axes) == 2 and "in context" in fig.axes[0].get_title()
    wide = render_in_context(learner, networks, "maml", 5, 9.0)
    assert not isinstance(wide, str) and "beyond training" in wide._suptitle.get_text()
    assert "no trained network" in render_in_context(learner, networks, "nope", 5, 3.0)
    assert "at least one support point" in render_in_context(learner, networks, "maml", 0, 3.0)
    panel = in_context_playground(learner, networks)
    panel.controls["k_shot"].value = 40
    panel.controls["amplitude"].value = 10.0
    assert panel.renders == 3 and not isinstance(panel.last, str)
