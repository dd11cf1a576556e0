"""The chapter-4 line tasks: closed-form fixed points agree with the iterative algorithms."""

import pytest
import torch

from metalearn_edu.meta import adapt, reptile_step
from metalearn_edu.meta.line_tasks import (
    adaptation_matrix,
    fixed_points,
    joint_fixed_point,
    line_task_loss,
    line_tasks,
    loss_after_adaptation,
    maml_fixed_point,
    reptile_fixed_point,
)

ALPHA, K = 0.4, 5


def test_loss_is_zero_on_the_line_and_quadratic_off_it():
    task = line_tasks()[0]                       # the side y = −1, steepness 2
    on_line = {"theta": torch.tensor([0.7, -1.0])}
    above = {"theta": torch.tensor([0.7, 0.5])}  # 1.5 from the line
    assert float(line_task_loss(on_line, task)) == pytest.approx(0.0, abs=1e-7)
    assert float(line_task_loss(above, task)) == pytest.approx(0.5 * 2.0 * 1.5 ** 2, rel=1e-6)


def test_adaptation_matrix_is_k_sgd_steps():
    tasks = line_tasks()
    theta = torch.tensor([1.3, -2.1])
    for task in tasks:
        phi = adapt(line_task_loss, {"theta": theta}, task, ALPHA, K).params[-1]["theta"]
        closed = task.centre + (adaptation_matrix(task, ALPHA, K) @ (theta - task.centre).double()).float()
        torch.testing.assert_close(phi, closed, atol=1e-5, rtol=0)


def test_reptile_converges_to_its_closed_form_fixed_point():
    tasks = line_tasks()
    for k in (1, K):
        params = {"theta": torch.tensor([3.0, -3.0])}
        for _ in range(1000):
            reptile_step(line_task_loss, params, tasks, ALPHA, k, 0.2)
        torch.testing.assert_close(params["theta"], reptile_fixed_point(tasks, ALPHA, k), atol=1e-4, rtol=0)
    # one inner step is joint training: the same fixed point as the mean loss's minimiser
    torch.testing.assert_close(reptile_fixed_point(tasks, ALPHA, 1), joint_fixed_point(tasks), atol=1e-5, rtol=0)


def test_maml_converges_to_its_closed_form_fixed_point():
    tasks = line_tasks()
    theta = torch.tensor([3.0, -3.0], requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.2)
    for _ in range(300):
        loss = sum(line_task_loss(adapt(line_task_loss, {"theta": theta}, t, ALPHA, K).params[-1], t)
                   for t in tasks) / len(tasks)
        opt.zero_grad()
        loss.backward()
        opt.step()
    target = maml_fixed_point(tasks, ALPHA, K)
    torch.testing.assert_close(theta.detach(), target, atol=5e-3, rtol=0)
    # it minimises the loss after adaptation: any small move makes that loss larger
    best = loss_after_adaptation(target, tasks, ALPHA, K)
    for move in torch.eye(2) * 0.05:
        assert loss_after_adaptation(target + move, tasks, ALPHA, K) > best
        assert loss_after_adaptation(target - move, tasks, ALPHA, K) > best


def test_post_adaptation_ordering_and_equal_steepness():
    tasks = line_tasks()
    losses = [loss_after_adaptation(theta, tasks, ALPHA, K) for theta in fixed_points(tasks, ALPHA, K).values()]
    joint, reptile, maml = losses
    assert maml < reptile < joint
    # equally steep tasks: every method weights them alike, so all three put θ at the same point
    same = list(fixed_points(line_tasks((1.0, 1.0, 1.0)), ALPHA, K).values())
    for theta in same[1:]:
        torch.testing.assert_close(theta, same[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"inner_lr": 1.0}, r"inner_lr=1: SGD diverges .* need 0 < inner_lr < 2/λ = 1"),
    ({"inner_lr": 0.0}, r"inner_lr=0: the inner step size α must be > 0"),
    ({"inner_steps": 0}, r"inner_steps=0: need an integer ≥ 1"),
])
def test_bad_inner_loop_settings_are_clear_errors(kwargs, message):
    settings = {"inner_lr": ALPHA, "inner_steps": K, **kwargs}
    with pytest.raises(ValueError, match=message):
        fixed_points(line_tasks(), **settings)


def test_bad_tasks_are_clear_errors():
    with pytest.raises(ValueError, match="steepness has 2 values but there are 3 corners"):
        line_tasks((1.0, 2.0))
    with pytest.raises(ValueError, match=r"steepness\[1\]=-1.0: each task's steepness λ must be > 0"):
        line_tasks((1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="tasks is empty"):
        joint_fixed_point([])
    parallel = line_tasks((1.0, 1.0), corners=((0.0, 0.0), (1.0, 0.0)))   # both sides on the same line
    with pytest.raises(ValueError, match="singular"):
        joint_fixed_point(parallel)
