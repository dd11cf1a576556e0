"""Shared test set-up: offline hub, few threads, deterministic torch."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.use_deterministic_algorithms(True, warn_only=True)


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded generator for tests that draw random numbers."""
    return torch.Generator().manual_seed(0)
