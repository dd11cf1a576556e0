"""Tests of `metalearn_edu.meta.losses`: the text classifier loss and its episode heads."""

from __future__ import annotations

import torch

from metalearn_edu.meta import ProtoNet, TextClassifierLoss, maml_step, select_params

from helpers import text_episode


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
