"""Tests of `metalearn_edu.meta.memorisation`: fixed and permuted labels, swapped supports, a head in θ."""

import pytest
import torch

from metalearn_edu.meta import TextClassifierLoss, maml_step, select_params
from metalearn_edu.meta.memorisation import fixed_labels, random_relabel, relabel, swap_support, with_learned_head

from helpers import text_episode


def test_fixed_labels_name_each_class_by_its_place_in_the_list():
    ep = text_episode(0, n_way=3)  # classes c0, c1, c2 with labels 0, 1, 2
    fixed = fixed_labels(ep, ["c2", "c0", "c1"])
    assert fixed.classes == ["c2", "c0", "c1"]
    assert fixed.support_y.tolist() == [1, 1, 2, 2, 0, 0] and fixed.query_y.tolist() == [1, 1, 2, 2, 0, 0]
    assert torch.equal(fixed.support_x, ep.support_x)
    with pytest.raises(ValueError, match="not the classes"):
        fixed_labels(ep, ["c0", "c1", "other"])


def test_relabelling_keeps_each_text_with_its_class():
    ep = text_episode(1, n_way=4)
    moved = random_relabel(ep, seed=3)
    assert moved.support_y.tolist() != ep.support_y.tolist()
    for old, new in zip(ep.support_y.tolist(), moved.support_y.tolist()):
        assert moved.classes[new] == ep.classes[old]  # the text's class is unchanged, only its number
    with pytest.raises(ValueError, match="permutation"):
        relabel(ep, torch.tensor([0, 0, 1, 2]))


def test_a_swapped_support_comes_whole_from_the_donor():
    ep, donor = text_episode(2), text_episode(5)
    swapped = swap_support(ep, donor)
    assert torch.equal(swapped.support_x, donor.support_x) and torch.equal(swapped.support_y, donor.support_y)
    assert torch.equal(swapped.query_x, ep.query_x) and torch.equal(swapped.query_y, ep.query_y)
    with pytest.raises(ValueError, match="classes"):
        swap_support(ep, text_episode(2, n_way=2))


def test_a_learned_head_is_part_of_theta_and_receives_the_meta_gradient(tiny_encoder):
    model = with_learned_head(tiny_encoder(0), 3)
    loss_fn = TextClassifierLoss(model, head_init="learned", attention_impl="fused")
    params = dict(model.named_parameters())
    ep = text_episode(0)
    assert loss_fn.episode_params(params, ep)["head.weight"] is params["head.weight"]
    _, grads = maml_step(loss_fn, params, [ep, text_episode(1)], 0.1, 1, True, select_params(model, "head"))
    assert grads["head.weight"].abs().sum() > 0  # the starting head is meta-learned
    with pytest.raises(ValueError, match="head_init='learned'"):
        loss_fn.episode_params(params, text_episode(0, n_way=2))
