"""Tests of `metalearn_edu.meta.baselines`: prototypes and the prototypical network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metalearn_edu.episodes import Episode
from metalearn_edu.meta import ProtoNet, prototypes


def test_prototypes_and_protonet_on_blobs():
    feats = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    assert torch.equal(prototypes(feats, torch.tensor([0, 0, 1]), 2), torch.tensor([[1.0, 0.0], [10.0, 10.0]]))
    with pytest.raises(ValueError, match="no example of class"):
        prototypes(feats, torch.tensor([0, 0, 0]), 2)
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 4, generator=g) * 5
    support = centres.repeat_interleave(2, 0) + 0.1 * torch.randn(6, 4, generator=g)
    query = centres.repeat_interleave(3, 0) + 0.1 * torch.randn(9, 4, generator=g)
    ep = Episode(support, torch.arange(3).repeat_interleave(2), query, torch.arange(3).repeat_interleave(3),
                 classes=["a", "b", "c"])
    assert ProtoNet(nn.Identity()).accuracy({}, ep) == 1.0
