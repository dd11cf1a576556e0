"""Exercise 6.3's check (which parameters each term of the hybrid objective trains): it accepts a
right answer and refuses the stub and the two natural mistakes."""

import pytest
import torch

from metalearn_edu.exercises import ExerciseFailed, ExerciseNotDone, check_trained_by


def trained_by(model, mlm_loss, meta_loss):
    names, params = zip(*model.named_parameters())
    reached = []
    for loss in (mlm_loss, meta_loss):
        grads = torch.autograd.grad(loss(), params, allow_unused=True)
        reached.append({n for n, g in zip(names, grads) if g is not None and bool(g.abs().sum() > 0)})
    return reached[0] - reached[1], reached[1] - reached[0], reached[0] & reached[1]


def test_trained_by(capsys):
    check_trained_by(trained_by)
    assert "✓" in capsys.readouterr().out

    def stub(model, mlm_loss, meta_loss):
        raise NotImplementedError

    with pytest.raises(ExerciseNotDone):
        check_trained_by(stub)

    def touched_is_trained(model, mlm_loss, meta_loss):  # a zero gradient counted as training
        names, params = zip(*model.named_parameters())
        reached = [{n for n, g in zip(names, torch.autograd.grad(loss(), params, allow_unused=True)) if g is not None}
                   for loss in (mlm_loss, meta_loss)]
        return reached[0] - reached[1], reached[1] - reached[0], reached[0] & reached[1]

    def accumulated(model, mlm_loss, meta_loss):  # .backward() twice, reading .grad that was never cleared
        sets = []
        for loss in (mlm_loss, meta_loss):
            loss().backward()
            sets.append({n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0})
        return sets[0] - sets[1], sets[1] - sets[0], sets[0] & sets[1]

    with pytest.raises(ExerciseFailed, match="exactly zero"):
        check_trained_by(touched_is_trained)
    with pytest.raises(ExerciseFailed, match="on its own"):
        check_trained_by(accumulated)
    with pytest.raises(ExerciseFailed, match="triple"):
        check_trained_by(lambda m, a, b: None)
