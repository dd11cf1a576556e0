"""Token-level few-shot tasks (`metalearn_edu.meta.tokens`): the tag head, its loss and the test protocol."""

import copy

import pytest
import torch
import torch.nn.functional as F

from metalearn_edu.data.chinese import load_chinese_tokenizer, peoples_daily_sentences
from metalearn_edu.meta import select_params
from metalearn_edu.meta.losses import EncoderFeatures
from metalearn_edu.meta.text import trunk_episode
from metalearn_edu.meta.tokens import (MISSING_TAG_BIAS, TokenClassifierLoss, evaluate_token_adaptation,
                                       token_top_blocks_loss)
from metalearn_edu.ner import IGNORE_INDEX, NEREpisodes
from metalearn_edu.pretrained import load_pretrained


@pytest.fixture(scope="module")
def zh_model():
    return load_pretrained("zh-mlm-micro", with_tokenizer=False)[0].eval()


@pytest.fixture(scope="module")
def episodes():
    sampler = NEREpisodes(peoples_daily_sentences("val"), load_chinese_tokenizer(), n_way=2, k_shot=2, q_query=2,
                          max_len=48, seed=0)
    return [sampler.episode(i) for i in range(3)]


def _params(model):
    return {n: p.detach() for n, p in model.named_parameters()}


def test_step_zero_is_a_nearest_prototype_tagger(zh_model, episodes):
    loss_fn = TokenClassifierLoss(zh_model)
    params = _params(zh_model)
    for ep in episodes:
        with torch.no_grad():
            head = loss_fn.episode_params(params, ep)
            logits = loss_fn.outputs(head, (ep.query_x, ep.query_y, ep.query_mask))  # (M, T, 2N + 1)
            feats = EncoderFeatures(zh_model, "tokens")(params, ep.support_x, ep.support_mask)
            keep = ep.support_y != IGNORE_INDEX
            tags = ep.support_y[keep]
            protos = torch.stack([feats[keep][tags == c].mean(0) for c in range(len(ep.classes))])  # every tag present
            query = EncoderFeatures(zh_model, "tokens")(params, ep.query_x, ep.query_mask)
        nearest = torch.cdist(query.flatten(0, 1), protos).argmin(-1).view(ep.query_y.shape)
        labelled = ep.query_y != IGNORE_INDEX
        assert torch.equal(logits.argmax(-1)[labelled], nearest[labelled])


def test_a_tag_absent_from_the_support_set_is_never_chosen_at_step_zero(zh_model, episodes):
    ep = copy.copy(episodes[0])
    missing = 4  # I- of the second type: relabel its support tokens as O
    ep.support_y = torch.where(episodes[0].support_y == missing, torch.zeros_like(episodes[0].support_y),
                               episodes[0].support_y)
    loss_fn = TokenClassifierLoss(zh_model)
    with torch.no_grad():
        head = loss_fn.episode_params(_params(zh_model), ep)
        logits = loss_fn.outputs(head, (ep.query_x, ep.query_y, ep.query_mask))
    assert float(head["head.bias"][missing]) == MISSING_TAG_BIAS
    assert bool((head["head.weight"][missing] == 0).all())
    assert not bool((logits.argmax(-1) == missing).any())


def test_loss_is_cross_entropy_over_labelled_tokens_only(zh_model, episodes):
    ep = episodes[1]
    loss_fn = TokenClassifierLoss(zh_model, head_init="zero")
    torch.manual_seed(0)
    logits = torch.randn(*ep.query_y.shape, len(ep.classes))
    keep = ep.query_y != IGNORE_INDEX
    want = F.cross_entropy(logits[keep], ep.query_y[keep])
    assert torch.allclose(loss_fn.loss(logits, ep.query_y), want)
    changed = logits.clone()
    changed[~keep] = 1e4  # [CLS], [SEP] and padding: nothing to predict there
    assert torch.allclose(loss_fn.loss(changed, ep.query_y), want)


def test_top_block_features_equal_the_whole_encoders(zh_model, episodes):
    """The protocol's shortcut (lower blocks run once, `trunk_episode`) gives the same logits as the full model."""
    params = _params(zh_model)
    full, top = TokenClassifierLoss(zh_model), token_top_blocks_loss(zh_model, top_k=1)
    for ep in episodes:
        trunk = trunk_episode(zh_model, ep, 1)
        with torch.no_grad():
            a = full.outputs(full.episode_params(params, ep), (ep.query_x, ep.query_y, ep.query_mask))
            b = top.outputs(top.episode_params(params, trunk), (trunk.query_x, trunk.query_y, trunk.query_mask))
        assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())


def test_evaluate_token_adaptation_reports_span_f1_per_step_and_adapts(zh_model, episodes):
    curve = evaluate_token_adaptation(zh_model, episodes, inner_lr=0.05, inner_steps=3)
    assert curve.steps == [0, 1, 2, 3] and len(curve.per_episode) == len(episodes)
    assert all(0.0 <= v <= 1.0 for row in curve.per_episode for v in row)
    loss_fn = TokenClassifierLoss(zh_model)
    for ep, row in zip(episodes, curve.per_episode):  # step 0 is the span F1 of the prototype tagger itself
        with torch.no_grad():
            head = loss_fn.episode_params(_params(zh_model), ep)
            f1 = loss_fn.metric(head, (ep.query_x, ep.query_y, ep.query_mask), ep.classes)
        assert row[0] == pytest.approx(f1, abs=1e-6)
    frozen = evaluate_token_adaptation(zh_model, episodes, inner_lr=0.0, inner_steps=3)
    assert all(row == [row[0]] * 4 for row in frozen.per_episode)  # no step size: nothing moves
    assert select_params(zh_model, "top1")  # the protocol adapts the top block (and the head)


def test_bad_arguments_name_the_parameter(zh_model):
    with pytest.raises(ValueError, match="head_init"):
        TokenClassifierLoss(zh_model, head_init="random")
    with pytest.raises(ValueError, match="pooling='tokens'"):
        TokenClassifierLoss(zh_model, features=EncoderFeatures(zh_model, "mean"))
