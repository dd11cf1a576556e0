"""Tests of `metalearn_edu.meta.losses`: the text classifier loss and its episode heads."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metalearn_edu.episodes import Episode
from metalearn_edu.meta import (
    ClassificationLoss,
    EncoderFeatures,
    ProtoNet,
    TextClassifierLoss,
    functional_loss,
    maml_step,
    pool_features,
    select_params,
)
from metalearn_edu.meta.losses import RegressionLoss
from metalearn_edu.model import BertEncoder

from helpers import TINY_CONFIG, text_episode

MASK_ID = 4


def test_text_heads_zero_and_proto_init(tiny_encoder):
    model = tiny_encoder()
    episode = text_episode()
    params = dict(model.named_parameters())
    zero = TextClassifierLoss(model, head_init="zero")
    theta = zero.episode_params(params, episode)
    assert float(theta["head.weight"].abs().sum()) == 0.0
    assert torch.allclose(zero(theta, episode.query), torch.log(torch.tensor(3.0)))  # uniform prediction
    proto = TextClassifierLoss(model, head_init="proto", pooling="mean")
    logits = proto.outputs(proto.episode_params(params, episode), episode.query)
    protonet = ProtoNet(model, pooling="mean", attention_impl="explicit")
    # W = 2c, b = −‖c‖² gives −‖f − c‖² + ‖f‖²: the same softmax as the prototypical network
    assert torch.allclose(logits.softmax(-1), protonet.logits(params, episode).softmax(-1), atol=1e-5)
    # MAML through the encoder and the fresh head: the meta-gradient reaches the adapted layers
    names = select_params(model, "top1")
    _, grads = maml_step(zero, params, [episode], 0.5, 1, adapt_names=names)
    assert "blocks.1.ffn.up.weight" in grads and "head.weight" not in grads
    assert float(grads["blocks.1.ffn.up.weight"].abs().sum()) > 0


# ---------------------------------------------------------------------------------------
# Pooling, accuracy, the head's size and dtype, the learned head, [MASK] pooling, the top blocks
# ---------------------------------------------------------------------------------------
def test_pool_features_pools_as_named():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 4, 3, generator=g)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    ids = torch.tensor([[7, MASK_ID, MASK_ID, 0], [MASK_ID, 8, 9, 0]])
    assert torch.equal(pool_features(hidden, None, mask, "cls"), hidden[:, 0])
    mean = torch.stack([hidden[0, :3].mean(0), hidden[1, 0]])  # over the real tokens only
    assert torch.allclose(pool_features(hidden, None, mask, "mean"), mean, atol=1e-6)
    assert torch.allclose(pool_features(hidden, None, mask), mean, atol=1e-6)  # "mean" is the default
    assert torch.allclose(pool_features(hidden, None, None, "mean"), hidden.mean(1), atol=1e-6)
    at_masks = torch.stack([hidden[0, 1:3].mean(0), hidden[1, 0]])  # over the [MASK] positions
    assert torch.allclose(pool_features(hidden, ids, mask, "mask", MASK_ID), at_masks, atol=1e-6)
    assert pool_features(hidden, ids, mask, "tokens") is hidden
    for ids_, token in ((ids, None), (None, MASK_ID)):
        with pytest.raises(ValueError, match="^pooling='mask'"):
            pool_features(hidden, ids_, mask, "mask", token)
    with pytest.raises(ValueError, match="^pooling='mask'"):  # the second sequence has no [MASK]
        pool_features(hidden, ids, mask, "mask", 7)
    with pytest.raises(ValueError, match="^pooling="):
        pool_features(hidden, ids, mask, "max")


def test_classification_accuracy_is_the_share_of_arg_max_hits():
    net = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3))  # logits = x: the predicted class is the largest input
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 3.0], [5.0, 1.0, 0.0]])
    y = torch.tensor([0, 1, 0, 0])  # the third is wrong
    loss_fn = ClassificationLoss(net)
    assert loss_fn.metric(dict(net.named_parameters()), (x, y)) == pytest.approx(0.75)


def test_episode_heads_size_to_the_labels_and_take_the_parameters_dtype(tiny_encoder):
    model = tiny_encoder().double()
    ep = text_episode(n_way=4)
    unnamed = Episode(ep.support_x, ep.support_y, ep.query_x, ep.query_y, ep.support_mask, ep.query_mask)
    assert unnamed.n_way == 0  # no class names: the head has max(label) + 1 rows
    loss_fn = TextClassifierLoss(model, head_init="zero")
    theta = loss_fn.episode_params(dict(model.named_parameters()), unnamed)
    assert theta["head.weight"].shape == (4, TINY_CONFIG.d_model) and theta["head.bias"].shape == (4,)
    assert theta["head.weight"].dtype == theta["head.bias"].dtype == torch.float64
    assert loss_fn(theta, unnamed.query).item() == pytest.approx(math.log(4), rel=1e-12)  # uniform over 4


def test_a_learned_head_is_thetas_own_and_must_fit_the_episode(tiny_encoder):
    model = tiny_encoder()
    episode = text_episode(n_way=3)
    loss_fn = TextClassifierLoss(model, head_init="learned")
    with pytest.raises(ValueError, match="^head_init='learned'"):  # no head registered
        loss_fn.episode_params(dict(model.named_parameters()), episode)
    model.head = nn.Linear(TINY_CONFIG.d_model, 3)  # D = 32 ≠ N = 3
    params = dict(model.named_parameters())
    theta = loss_fn.episode_params(params, episode)
    assert theta.keys() == params.keys() and all(theta[n] is params[n] for n in params)
    features = loss_fn.features(params, episode.query_x, episode.query_mask)
    expected = F.cross_entropy(features @ params["head.weight"].T + params["head.bias"], episode.query_y)
    assert torch.allclose(loss_fn(theta, episode.query), expected)
    with pytest.raises(ValueError, match="^head_init='learned'"):  # a 3-way head for a 2-way episode
        loss_fn.episode_params(params, text_episode(n_way=2))


def test_mask_pooling_averages_the_encoders_states_at_the_mask_tokens(tiny_encoder):
    model = tiny_encoder()
    episode = text_episode()
    x = episode.support_x.clone()
    x[:, 2] = MASK_ID
    x[::2, 3] = MASK_ID  # one or two [MASK] tokens a sequence
    params = dict(model.named_parameters())
    loss_fn = TextClassifierLoss(model, pooling="mask", mask_token_id=MASK_ID)
    hidden = model(x, attention_mask=episode.support_mask, attention_impl="explicit").hidden_states
    at = (x == MASK_ID).unsqueeze(-1).to(hidden.dtype)
    expected = (hidden * at).sum(1) / at.sum(1)
    assert torch.allclose(loss_fn.features(params, x, episode.support_mask), expected, atol=1e-5)


def test_top_block_features_use_the_given_top_weights_and_equal_the_whole_encoders():
    # a pre-LN encoder (it has a final LayerNorm); the top block and the final norm perturbed in params
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertEncoder(dataclasses.replace(TINY_CONFIG, pre_ln=True), attention_impl="explicit")
        params = {n: p + 0.1 * torch.randn_like(p) if n.startswith(("blocks.1.", "final_norm.")) else p
                  for n, p in model.named_parameters()}
    episode = text_episode()
    x, mask = episode.support_x, episode.support_mask
    whole = EncoderFeatures(model, "mean", "explicit")(params, x, mask)
    assert not torch.allclose(whole, EncoderFeatures(model, "mean", "explicit")(dict(model.named_parameters()), x,
                                                                                 mask), atol=1e-3)
    with torch.no_grad():
        embedded, key_mask = model.embed(x, mask)
        below = model.run_blocks(embedded, key_mask, end=1)[0]  # the states entering block 1 (unperturbed)
        unmasked = model.run_blocks(embedded, None, end=1)[0]
    top = EncoderFeatures(model, "mean", "explicit", start_block=1)
    assert torch.allclose(top(params, below, mask), whole, atol=1e-5)
    assert torch.allclose(top(params, unmasked, None), EncoderFeatures(model, "mean", "explicit")(params, x, None),
                          atol=1e-5)


def test_encoder_features_check_start_block_and_refuse_mask_pooling_above_the_ids(tiny_encoder):
    model = tiny_encoder()
    episode = text_episode()
    x, mask = episode.support_x, episode.support_mask
    features = EncoderFeatures(model)  # mean pooling by default
    expected = pool_features(model(x, attention_mask=mask).hidden_states, None, mask, "mean")
    assert torch.allclose(features(dict(model.named_parameters()), x, mask), expected, atol=1e-5)
    for bad in (-1, TINY_CONFIG.n_layers, 1.0):
        with pytest.raises(ValueError, match="^start_block="):
            EncoderFeatures(model, start_block=bad)
    with pytest.raises(ValueError, match="^pooling='mask'"):  # the top blocks get hidden states, not ids
        EncoderFeatures(model, "mask", mask_token_id=MASK_ID, start_block=1)


class _Scaled(nn.Module):
    """A linear layer whose output is scaled by a keyword argument of forward."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x, scale=1.0):
        return self.lin(x) * scale


def test_functional_loss_builds_each_kind_with_its_keyword_arguments(tiny_encoder):
    net = _Scaled()
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    assert isinstance(functional_loss(net), RegressionLoss)  # "mse" by default
    mse = functional_loss(net, "mse", scale=3.0)
    with torch.no_grad():
        assert torch.allclose(mse.outputs(dict(net.named_parameters()), (x, x[:, :1])), net(x, scale=3.0))
    text = functional_loss(tiny_encoder(), "text", head_init="proto", pooling="cls")
    assert isinstance(text, TextClassifierLoss) and (text.head_init, text.pooling) == ("proto", "cls")
    with pytest.raises(ValueError, match="^kind="):
        functional_loss(net, "hinge")


class _Tied(nn.Module):
    """Two linear maps that share one weight, registered under two names ("a.weight", "b.weight")."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def test_a_weight_registered_under_two_names_moves_as_one():
    net = _Tied()
    g = torch.Generator().manual_seed(0)
    new = torch.randn(2, 2, generator=g)
    x = torch.randn(3, 2, generator=g)
    loss_fn = functional_loss(net, "mse")
    assert list(dict(net.named_parameters())) == ["a.weight"]
    assert torch.allclose(loss_fn.outputs({"a.weight": new}, (x, x)), x @ new.T @ new.T)
