"""Two-dimensional tasks whose solutions are lines: where joint training, Reptile and MAML put θ.

Task i has loss ``L_i(θ) = ½ (θ − c_i)ᵀ A_i (θ − c_i)`` with ``A_i = λ_i n_i n_iᵀ``: zero on the
line through ``c_i`` with normal ``n_i``, growing quadratically with the distance from it,
steeply for a large steepness λ_i. Chapter 4 uses three such tasks, the sides of a triangle.

Because every loss is quadratic, ``k`` steps of SGD with step α from θ have a closed form,

    φ_i = c_i + B_i (θ − c_i),    B_i = (I − α A_i)^k,

and so do the fixed points the iterative algorithms converge to (2×2 linear solves):

* joint training (gradient descent on the mean loss):  Σ_i A_i (θ − c_i) = 0;
* Reptile (θ ← θ + ε·mean_i(φ_i − θ)):               Σ_i (I − B_i)(θ − c_i) = 0;
* MAML (minimise the loss after adaptation, ½ Σ_i (θ − c_i)ᵀ B_i A_i B_i (θ − c_i)):
                                                      Σ_i B_i A_i B_i (θ − c_i) = 0.

The chapter runs the library's `reptile_step` and `adapt` to these points and checks them against
the closed forms; the slider panel uses the closed forms, which take microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

TRIANGLE = ((-2.0, -1.0), (2.0, -1.0), (0.0, 2.5))
"""Corners of the chapter's triangle; task i's line runs from corner i to corner i + 1."""


@dataclass(frozen=True)
class LineTask:
    """One task: a point ``centre`` (2,) on its zero-loss line, the line's unit ``normal`` (2,), its ``steepness`` λ."""

    centre: Tensor
    normal: Tensor
    steepness: float

    @property
    def curvature(self) -> Tensor:
        """A = λ n nᵀ (2, 2), the Hessian of the task's loss."""
        return self.steepness * torch.outer(self.normal, self.normal)

    @property
    def support(self) -> "LineTask":
        """The task is its own support and query set, so it can stand in for an `Episode`."""
        return self

    @property
    def query(self) -> "LineTask":
        return self


def line_tasks(steepness: Sequence[float] = (2.0, 1.0, 0.1), corners: Sequence[Sequence[float]] = TRIANGLE) -> list[LineTask]:
    """The tasks along the sides of a polygon: side i (corner i → i + 1) has steepness λ_i.

    Raises:
        ValueError: if ``steepness`` and ``corners`` differ in length, a steepness is not
            positive, or two consecutive corners coincide.
    """
    if len(steepness) != len(corners) or len(corners) < 2:
        raise ValueError(f"steepness has {len(steepness)} values but there are {len(corners)} corners (sides); "
                         "give one steepness per side, at least two")
    points = torch.tensor(corners, dtype=torch.float32)
    tasks = []
    for i, lam in enumerate(steepness):
        if not lam > 0:
            raise ValueError(f"steepness[{i}]={lam}: each task's steepness λ must be > 0")
        a, b = points[i], points[(i + 1) % len(points)]
        if torch.allclose(a, b):
            raise ValueError(f"corners {i} and {(i + 1) % len(points)} coincide; a side needs two distinct points")
        along = (b - a) / (b - a).norm()
        normal = torch.stack([-along[1], along[0]])
        tasks.append(LineTask(a, normal, float(lam)))
    return tasks


def line_task_loss(params: Mapping[str, Tensor], task: LineTask) -> Tensor:
    """½ (θ − c)ᵀ A (θ − c) for θ = ``params["theta"]`` (2,); the ``loss_fn`` that `adapt` calls."""
    d = params["theta"] - task.centre
    return 0.5 * d @ task.curvature @ d


def _check_inner(tasks: Sequence[LineTask], inner_lr: float, inner_steps: int) -> None:
    if not tasks:
        raise ValueError("tasks is empty; give at least one LineTask")
    if not inner_lr > 0:
        raise ValueError(f"inner_lr={inner_lr:g}: the inner step size α must be > 0")
    if not (isinstance(inner_steps, int) and inner_steps >= 1):
        raise ValueError(f"inner_steps={inner_steps!r}: need an integer ≥ 1")
    steepest = max(t.steepness for t in tasks)
    if inner_lr * steepest >= 2:
        raise ValueError(f"inner_lr={inner_lr:g}: SGD diverges on the task with steepness λ={steepest:g} "
                         f"(|1 − αλ| ≥ 1); need 0 < inner_lr < 2/λ = {2 / steepest:.3g}")


def adaptation_matrix(task: LineTask, inner_lr: float, inner_steps: int) -> Tensor:
    """B = (I − α A)^k (2, 2), in float64: k SGD steps map θ − c to B (θ − c)."""
    step = torch.eye(2, dtype=torch.float64) - inner_lr * task.curvature.double()
    return torch.linalg.matrix_power(step, inner_steps)


def _solve(weights: list[Tensor], tasks: Sequence[LineTask]) -> Tensor:
    """The θ (2,) with Σ_i W_i (θ − c_i) = 0, solved in float64 (weights can span ten orders of magnitude)."""
    if not tasks:
        raise ValueError("tasks is empty; give at least one LineTask")
    weights = [w.double() for w in weights]
    total = sum(weights)
    if float(torch.linalg.cond(total)) > 1e12:
        raise ValueError("the tasks' weights sum to a singular matrix (e.g. every task's line is parallel, or "
                         "α·λ = 1 zeroes MAML's weight on all but one task); the fixed point is not unique")
    return torch.linalg.solve(total, sum(w @ t.centre.double() for w, t in zip(weights, tasks))).float()


def joint_fixed_point(tasks: Sequence[LineTask]) -> Tensor:
    """The minimiser (2,) of the mean loss: (Σ A_i)⁻¹ Σ A_i c_i."""
    return _solve([t.curvature for t in tasks], tasks)


def reptile_fixed_point(tasks: Sequence[LineTask], inner_lr: float, inner_steps: int) -> Tensor:
    """Where Reptile with k inner steps stops moving (2,): (Σ (I − B_i))⁻¹ Σ (I − B_i) c_i."""
    _check_inner(tasks, inner_lr, inner_steps)
    return _solve([torch.eye(2, dtype=torch.float64) - adaptation_matrix(t, inner_lr, inner_steps) for t in tasks], tasks)


def maml_fixed_point(tasks: Sequence[LineTask], inner_lr: float, inner_steps: int) -> Tensor:
    """The minimiser (2,) of the mean loss after k inner steps: (Σ B_i A_i B_i)⁻¹ Σ B_i A_i B_i c_i."""
    _check_inner(tasks, inner_lr, inner_steps)
    weights = []
    for t in tasks:
        b = adaptation_matrix(t, inner_lr, inner_steps)
        weights.append(b @ t.curvature.double() @ b)
    return _solve(weights, tasks)


def loss_after_adaptation(theta: Tensor, tasks: Sequence[LineTask], inner_lr: float, inner_steps: int) -> float:
    """Mean over tasks of L_i(φ_i), φ_i = θ after k SGD steps on task i (closed form)."""
    _check_inner(tasks, inner_lr, inner_steps)
    total = 0.0
    for t in tasks:
        d = adaptation_matrix(t, inner_lr, inner_steps) @ (theta - t.centre).double()
        total += float(0.5 * d @ t.curvature.double() @ d)
    return total / len(tasks)


def fixed_points(tasks: Sequence[LineTask], inner_lr: float, inner_steps: int) -> dict[str, Tensor]:
    """The three initialisations, keyed by the names the chapter and its plot use."""
    return {
        "joint training (k = 1)": joint_fixed_point(tasks),
        f"Reptile (k = {inner_steps})": reptile_fixed_point(tasks, inner_lr, inner_steps),
        f"MAML (k = {inner_steps})": maml_fixed_point(tasks, inner_lr, inner_steps),
    }
