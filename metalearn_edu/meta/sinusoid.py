"""The MAML paper's sinusoid regressor, and the one file format for the networks the course ships.

`sinusoid_mlp` builds Finn et al.'s 1-40-40-1 ReLU network; `save_sinusoid_model` and
`load_sinusoid_models` write and read the networks that ``benchmarks/sinusoid.py
--save-models DIR`` trains (chapter 3 and the sinusoid playground load them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint

SINUSOID_METHODS = ("maml", "fomaml", "reptile", "pretrained")


def sinusoid_mlp(sizes: Sequence[int] = (1, 40, 40, 1), seed: int = 0) -> nn.Sequential:
    """The MAML paper's sinusoid regressor: Linear layers with ReLU between them (1-40-40-1).

    Weights use PyTorch's default initialisation, drawn under `seed` without
    touching the global random state.

    Example:
        >>> sinusoid_mlp()
        Sequential(
          (0): Linear(in_features=1, out_features=40, bias=True)
          (1): ReLU()
          (2): Linear(in_features=40, out_features=40, bias=True)
          (3): ReLU()
          (4): Linear(in_features=40, out_features=1, bias=True)
        )
    """
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes={sizes!r} is not allowed; give at least two positive layer widths, "
                         "e.g. (1, 40, 40, 1)")
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


def save_sinusoid_model(net: nn.Sequential, folder: str | Path, method: str, test_lr: float,
                        **extra: object) -> Path:
    """Write ``<folder>/<method>.pt``: the weights, the layer widths and the inner learning rate to test with."""
    sizes = [net[0].in_features] + [m.out_features for m in net if isinstance(m, nn.Linear)]
    return save_checkpoint(Path(folder) / f"{method}.pt", {"model": net.state_dict(), "config": {"sizes": sizes},
                                                          "test_lr": float(test_lr), "extra": dict(extra)})


def load_sinusoid_models(folder: str | Path) -> dict[str, tuple[nn.Sequential, float]]:
    """The networks saved by `save_sinusoid_model` in `folder`.

    Returns:
        method -> (network in eval mode, the inner learning rate it is evaluated with).

    Raises:
        FileNotFoundError: if the folder holds none of `SINUSOID_METHODS`.
    """
    models = {}
    for method in SINUSOID_METHODS:
        path = Path(folder) / f"{method}.pt"
        if path.is_file():
            state = load_checkpoint(path)
            net = sinusoid_mlp(tuple(state["config"]["sizes"]))
            net.load_state_dict(state["model"])
            models[method] = (net.eval(), float(state["test_lr"]))
    if not models:
        raise FileNotFoundError(f"no sinusoid models ({', '.join(m + '.pt' for m in SINUSOID_METHODS)}) in {folder}; "
                                "make them with `python benchmarks/sinusoid.py --save-models DIR`")
    return models
