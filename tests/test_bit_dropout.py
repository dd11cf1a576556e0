"""Tests of `metalearn_edu.bit_dropout`: the CPU dropout that draws its masks from the bits of 64-bit integers."""

import torch

from metalearn_edu.bit_dropout import BitDropout as Dropout, bit_dropout_mask as dropout_mask


def test_dropout_mask_statistics():
    """Our CPU dropout keeps each element with probability 1 − p and preserves the mean."""
    torch.manual_seed(0)
    for p in (0.1, 0.5):
        mask = dropout_mask(torch.Size([400, 500]), p, torch.float32, torch.device("cpu"))
        kept = mask > 0
        assert abs(1 - kept.float().mean().item() - p) < 0.005  # 200k draws: σ ≈ 0.001
        torch.testing.assert_close(mask[kept], torch.full_like(mask[kept], 1 / (1 - p)))
        assert abs(mask.mean().item() - 1) < 0.01  # inverted dropout: E[mask] = 1
        # neighbours come from different bits of one 64-bit draw: no correlation between them
        a, b = kept[:, :-1].flatten().float(), kept[:, 1:].flatten().float()
        assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.01
    layer = Dropout(0.3)
    x = torch.randn(64, 32, requires_grad=True)
    torch.manual_seed(1)
    y = layer(x)
    torch.manual_seed(1)
    assert torch.equal(y, layer(x))  # seeded like the rest of torch
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y.detach() != 0).float() / 0.7)  # d(x · mask)/dx = mask
    assert layer.eval()(x) is x
