"""Device choice, seeding and autocast."""

import pytest
import torch

from metalearn_edu.runtime import autocast, best_autocast_dtype, pick_device, seed_everything


def test_pick_device_prefers_what_exists(monkeypatch):
    monkeypatch.delenv("METALEARN_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("METALEARN_DEVICE", "cpu")
    assert pick_device().type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available; use 'cpu'"):
        pick_device("cuda")


def test_seed_everything_makes_runs_repeat():
    g1 = seed_everything(5)
    a = torch.randn(3), torch.randn(2, generator=g1)
    g2 = seed_everything(5)
    b = torch.randn(3), torch.randn(2, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_autocast_dtype_follows_the_hardware():
    dtype = best_autocast_dtype("cpu")
    assert dtype in (None, torch.bfloat16)
    x = torch.randn(4, 4)
    with autocast("cpu"):
        y = x @ x
    assert y.dtype == (dtype or torch.float32)
    with autocast("cpu", dtype=None):
        assert (x @ x).dtype == torch.float32
    with autocast("cpu", dtype=torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16
