"""Tests of `metalearn_edu.meta.objective`: the SMLMT meta-loss of hybrid pretraining, mixing, resume, bad input."""

import math

import pytest
import torch

from metalearn_edu.config import ModelConfig
from metalearn_edu.episodes import SMLMTEpisodes
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.meta import SMLMTObjective, TextClassifierLoss, maml_step, select_params
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrain import PretrainConfig, pack_blocks, pretrain

WORDS = ("market", "match", "film", "election")
SENTENCES = [f"The {w} was discussed at length by {name} on day {i}."
             for w in WORDS for i, name in enumerate(["Anna", "Ben", "Chris", "Dana", "Eve", "Fay"])]
FAST = dict(eval_every=100, precision="fp32", lr=3e-3, warmup_steps=1, batch_size=4)


def _setup(tok, seed: int = 0):
    sampler = SMLMTEpisodes(SENTENCES, tok, n_way=3, k_shot=2, q_query=2, words=WORDS, max_len=24)
    blocks = pack_blocks(SENTENCES, tok, 16)
    cfg = ModelConfig(vocab_size=len(tok), d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=32,
                      dropout=0.0, attn_dropout=0.0, pre_ln=True)
    torch.manual_seed(seed)
    return BertEncoder(cfg), blocks, MaskingVocab.from_tokenizer(tok), sampler


def test_objective_gradient_is_first_order_maml(course_tokenizer):
    model, _, _, sampler = _setup(course_tokenizer)
    objective = SMLMTObjective(sampler, meta_batch_size=2, inner_lr=0.1, inner_steps=2)
    loss, tokens = objective.backward(model, step=3, weight=0.5)
    ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    episodes = [sampler.episode(6), sampler.episode(7)]  # step 3 of a meta-batch of 2
    ref_loss, ref = maml_step(loss_fn, dict(model.named_parameters()), episodes, 0.1, 2, first_order=True,
                              adapt_names=select_params(model, "top1"))
    assert loss == pytest.approx(float(ref_loss), rel=1e-5)
    assert tokens == sum(int(e.support_mask.sum() + e.query_mask.sum()) for e in episodes)
    assert set(ours) == {n for n, g in ref.items() if g is not None}
    for n, g in ours.items():
        torch.testing.assert_close(g, 0.5 * ref[n], rtol=1e-4, atol=1e-7)


def test_the_protonet_meta_term_is_the_weighted_mean_prototypical_loss(course_tokenizer):
    from metalearn_edu.meta import ProtoNet

    model, _, _, sampler = _setup(course_tokenizer)
    objective = SMLMTObjective(sampler, meta_batch_size=2, learner="protonet")
    loss, _ = objective.backward(model, step=1, weight=0.25)
    ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    episodes = [sampler.episode(2), sampler.episode(3)]  # step 1 of a meta-batch of 2
    protonet, params = ProtoNet(model), dict(model.named_parameters())
    losses = [protonet(params, ep) for ep in episodes]  # two unequal episode losses
    assert abs(float(losses[0].detach()) - float(losses[1].detach())) > 1e-4
    reference = sum(losses) / 2
    (0.25 * reference).backward()
    assert loss == pytest.approx(float(reference.detach()), rel=1e-6)
    assert set(ours) == {n for n, p in model.named_parameters() if p.grad is not None}
    for n, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(ours[n], p.grad, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="learner='reptile'"):
        SMLMTObjective(sampler, learner="reptile")


def test_objectives_train_what_they_should(course_tokenizer):
    runs = {}
    for objective, weight in (("mlm", 0.5), ("smlmt", 0.5), ("hybrid", 0.5)):
        model, blocks, vocab, sampler = _setup(course_tokenizer)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        cfg = PretrainConfig(steps=2, objective=objective, meta_weight=weight, **FAST)
        history = pretrain(model, blocks, blocks[:4], vocab, cfg, progress=False, log=None,
                           meta_objective=SMLMTObjective(sampler, meta_batch_size=1, inner_steps=1))
        moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        runs[objective] = (history, moved)
    mlm, smlmt, hybrid = runs["mlm"], runs["smlmt"], runs["hybrid"]
    assert all(math.isnan(x) for x in mlm[0].meta_loss) and all(math.isfinite(x) for x in mlm[0].mlm_loss)
    assert all(math.isnan(x) for x in smlmt[0].mlm_loss) and all(math.isfinite(x) for x in smlmt[0].meta_loss)
    assert all(math.isfinite(x) for x in hybrid[0].mlm_loss + hybrid[0].meta_loss)
    # The MLM transform is trained by MLM and the hybrid, never by the meta-loss alone.
    assert "mlm_head.dense.weight" in mlm[1] and "mlm_head.dense.weight" in hybrid[1]
    assert "mlm_head.dense.weight" not in smlmt[1] and "blocks.1.ffn.up.weight" in smlmt[1]
    h = hybrid[0]
    assert h.train_loss == pytest.approx([0.5 * a + 0.5 * b for a, b in zip(h.mlm_loss, h.meta_loss)])
    assert h.tokens[0] > 4 * 16  # MLM block tokens plus the episode's tokens


def test_hybrid_resume_reproduces_the_uninterrupted_run(tmp_path, course_tokenizer):
    cfg = PretrainConfig(steps=4, objective="hybrid", meta_weight=0.3, **FAST)
    model, blocks, vocab, sampler = _setup(course_tokenizer)
    full = pretrain(model, blocks, blocks[:4], vocab, cfg, progress=False, log=None,
                    meta_objective=SMLMTObjective(sampler, meta_batch_size=1, inner_steps=1))
    import metalearn_edu.pretrain as pt

    original = pt.step_generator

    def interrupting(seed, step):
        if step == 2:
            raise KeyboardInterrupt
        return original(seed, step)

    model_b, blocks, vocab, sampler = _setup(course_tokenizer)
    pt.step_generator = interrupting
    try:
        with pytest.raises(KeyboardInterrupt):
            pretrain(model_b, blocks, blocks[:4], vocab, cfg, out_dir=tmp_path, progress=False, log=None,
                     meta_objective=SMLMTObjective(sampler, meta_batch_size=1, inner_steps=1))
    finally:
        pt.step_generator = original
    model_c, blocks, vocab, sampler = _setup(course_tokenizer)
    resumed = pretrain(model_c, blocks, blocks[:4], vocab, cfg, out_dir=tmp_path, progress=False, log=None,
                       meta_objective=SMLMTObjective(sampler, meta_batch_size=1, inner_steps=1))
    assert resumed.train_loss == full.train_loss and resumed.tokens == full.tokens
    for p, q in zip(model.parameters(), model_c.parameters()):
        assert torch.equal(p, q)


def test_bad_hybrid_settings_name_the_parameter(course_tokenizer):
    for weight in (1.5, -0.1):
        with pytest.raises(ValueError, match=rf"meta_weight={weight} is not allowed; .* \[0, 1\]"):
            PretrainConfig(objective="hybrid", meta_weight=weight)
    with pytest.raises(ValueError, match="objective='maml' is not allowed"):
        PretrainConfig(objective="maml")
    model, blocks, vocab, sampler = _setup(course_tokenizer)
    with pytest.raises(ValueError, match="objective='hybrid' needs meta_objective"):
        pretrain(model, blocks, blocks[:4], vocab, PretrainConfig(steps=1, objective="hybrid", **FAST),
                 progress=False, log=None)
    with pytest.raises(ValueError, match="time_budget_s=1e-06 is too small to take one step"):
        pretrain(model, blocks, blocks[:4], vocab, PretrainConfig(steps=5, time_budget_s=1e-6, **FAST),
                 progress=False, log=None)
    with pytest.raises(ValueError, match="n_way=5 words are needed but only 4"):
        SMLMTEpisodes(SENTENCES, course_tokenizer, n_way=5, k_shot=2, q_query=2, words=WORDS)
    with pytest.raises(ValueError, match="meta_batch_size=0"):
        SMLMTObjective(sampler, meta_batch_size=0)
