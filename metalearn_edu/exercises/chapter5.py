"""The exercise checks of Chapter 5 — few-shot text classification."""

from __future__ import annotations

from typing import Callable

import torch
from .framework import ok


def check_proto_head(fn: Callable[[torch.Tensor, torch.Tensor, int], tuple]) -> None:
    """Exercise 5.1: `fn(features, labels, n_way)` → (W, b) of the prototype-initialised head.

    Shapes: features (M, D), labels (M,), W (N, D), b (N,). With W_k = 2c_k and b_k = −‖c_k‖²
    the logits W f + b rank classes exactly like −‖f − c_k‖².
    """
    from ..meta import prototypes, squared_distances

    gen = torch.Generator().manual_seed(7)
    features = torch.randn(12, 6, generator=gen)
    labels = torch.arange(3).repeat(4)
    weight, bias = fn(features, labels, 3)
    assert tuple(weight.shape) == (3, 6) and tuple(bias.shape) == (3,), (
        f"W should be (N, D) = (3, 6) and b (N,) = (3,); got {tuple(weight.shape)} and {tuple(bias.shape)}")
    c = prototypes(features, labels, 3)
    torch.testing.assert_close(weight, 2 * c, msg="W_k should be twice the mean feature of class k")
    torch.testing.assert_close(bias, -(c * c).sum(-1), msg="b_k should be −‖c_k‖², minus the squared norm")
    queries = torch.randn(5, 6, generator=gen)
    logits = queries @ weight.T + bias
    assert torch.equal(logits.argmax(-1), (-squared_distances(queries, c)).argmax(-1))
    ok("your head classifies exactly like the nearest prototype")
