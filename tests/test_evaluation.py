"""Tests of `metalearn_edu.meta.evaluation`: adaptation curves with 95% intervals."""

from __future__ import annotations

import pytest

from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import TextClassifierLoss, evaluate_adaptation, finetune, functional_loss, sinusoid_mlp

from helpers import text_episode


def test_evaluation_curve_matches_trajectory(tiny_encoder):
    net = sinusoid_mlp(seed=0)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    episodes = [SinusoidTasks(seed=1).episode(i, 5) for i in range(10)]
    curve = evaluate_adaptation(loss_fn, params, episodes, 0.01, 3)
    assert curve.steps == [0, 1, 2, 3] and curve.n_episodes == 10 and curve.metric == "mse"
    traj = finetune(loss_fn, params, episodes[4], 0.01, 3)
    expected = [float(loss_fn(p, episodes[4].query)) for p in traj.params]
    assert curve.per_episode[4] == pytest.approx(expected, rel=1e-6)
    assert curve.at(0)[0] == pytest.approx(sum(r[0] for r in curve.per_episode) / 10)
    assert all(h > 0 for h in curve.ci) and curve.format(1).count("±") == 1
    assert net.training  # the mode is restored
    text_model = tiny_encoder()
    text = evaluate_adaptation(TextClassifierLoss(text_model), dict(text_model.named_parameters()),
                               [text_episode(i) for i in range(3)], 0.5, 2)
    assert text.metric == "accuracy" and all(0.0 <= m <= 1.0 for m in text.mean)


def test_paired_difference_leaves_out_diverged_episodes():
    from metalearn_edu.analysis import paired_ci
    from metalearn_edu.meta.evaluation import AdaptationCurve

    nan = float("nan")
    a = AdaptationCurve([0, 1], [0, 0], [0, 0], "mse", per_episode=[[1.0, 0.5], [2.0, nan], [1.5, 0.7], [1.2, 0.6]])
    b = AdaptationCurve([0, 1], [0, 0], [0, 0], "mse", per_episode=[[1.1, 0.6], [2.1, 0.9], [1.4, nan], [1.0, 0.4]])
    assert a.difference(b, 1) == pytest.approx(paired_ci([0.5, 0.6], [0.6, 0.4]))  # episodes 1 and 2 left out
    assert a.difference(b, 0) == pytest.approx(paired_ci([1.0, 2.0, 1.5, 1.2], [1.1, 2.1, 1.4, 1.0]))
    c = AdaptationCurve([0, 1], [0, 0], [0, 0], "mse", per_episode=[[1.0, nan], [1.0, nan], [1.0, nan], [1.0, 0.1]])
    with pytest.raises(ValueError, match="only 1 episode"):
        a.difference(c, 1)
