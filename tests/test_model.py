"""The from-scratch encoder: shapes, attention paths, functional use, bad input."""

import pytest
import torch
from torch.func import functional_call

from metalearn_edu.config import ModelConfig
from metalearn_edu.model import BertEncoder

CFG = ModelConfig(vocab_size=101, d_model=48, n_layers=2, n_heads=3, d_ff=72, max_len=32)


def make_batch(gen, B=3, T=10, vocab=101):
    ids = torch.randint(5, vocab, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    segments = torch.zeros_like(ids)
    segments[:, 5:] = 1
    return ids, mask, segments


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BertEncoder(CFG).eval()


def test_output_shapes(model, gen):
    ids, mask, seg = make_batch(gen)
    out = model(ids, mask, seg, return_attention=True)
    assert out.hidden_states.shape == (3, 10, 48)
    assert len(out.all_hidden_states) == CFG.n_layers + 1
    assert all(h.shape == (3, 10, 48) for h in out.all_hidden_states)
    assert torch.equal(out.all_hidden_states[-1], out.hidden_states)
    assert len(out.attentions) == CFG.n_layers
    assert all(a.shape == (3, CFG.n_heads, 10, 10) for a in out.attentions)
    assert model(ids).attentions is None


def test_attention_rows_sum_to_one_over_unmasked_keys(model, gen):
    ids, mask, seg = make_batch(gen)
    for a in model(ids, mask, seg, return_attention=True).attentions:
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
        masked_keys = ~mask.bool()[:, None, None, :].expand_as(a)
        assert a[masked_keys].abs().max() == 0


def test_fused_and_explicit_paths_agree(model, gen):
    ids, mask, seg = make_batch(gen)
    fused = model(ids, mask, seg, attention_impl="fused")
    explicit = model(ids, mask, seg, attention_impl="explicit")
    for f, e in zip(fused.all_hidden_states, explicit.all_hidden_states):
        torch.testing.assert_close(f, e, atol=1e-5, rtol=0)


def test_explicit_path_supports_double_backward(model, gen):
    ids, mask, seg = make_batch(gen)
    model.train(False)
    params = dict(model.named_parameters())
    loss = model(ids, mask, seg, attention_impl="explicit").hidden_states.pow(2).mean()
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
    second = sum(g.pow(2).sum() for g in grads if g is not None)
    (q_grad,) = torch.autograd.grad(second, [params["blocks.0.attn.q_proj.weight"]])
    assert q_grad.abs().sum() > 0


def test_functional_call_uses_the_given_params_and_leaves_the_model_alone(model, gen):
    ids, mask, seg = make_batch(gen)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    before = {n: p.clone() for n, p in params.items()}
    same = functional_call(model, params, (ids, mask, seg), {"head": "mlm"})
    torch.testing.assert_close(same.logits, model(ids, mask, seg, head="mlm").logits)

    shifted = {n: p + 0.1 for n, p in params.items()}
    moved = functional_call(model, shifted, (ids, mask, seg), {"head": "mlm"})
    assert (moved.logits - same.logits).abs().max() > 1e-3
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_tied_decoder_is_one_parameter(model, gen):
    names = [n for n, _ in model.named_parameters()]
    assert names.count("embeddings.tok_emb.weight") == 1
    assert not any("decoder" in n for n in names)
    # Changing the embedding through functional_call changes the MLM logits: the decoder is tied.
    ids, mask, seg = make_batch(gen)
    params = dict(model.named_parameters())
    h = model(ids, mask, seg).hidden_states
    params2 = {**params, "embeddings.tok_emb.weight": params["embeddings.tok_emb.weight"] * 2}
    logits = functional_call(model, params2, (ids, mask, seg), {"head": "mlm"}).logits
    transform = model.mlm_head.norm(model.mlm_head.act(model.mlm_head.dense(
        functional_call(model, params2, (ids, mask, seg)).hidden_states)))
    expected = transform @ params2["embeddings.tok_emb.weight"].T + model.mlm_head.bias
    torch.testing.assert_close(logits, expected)
    assert h.shape[-1] == CFG.d_model


def test_mlm_mask_selects_positions(model, gen):
    ids, mask, seg = make_batch(gen)
    sel = torch.zeros_like(ids, dtype=torch.bool)
    sel[0, 3] = sel[1, 1] = sel[2, 0] = True
    full = model(ids, mask, seg, head="mlm").logits
    part = model(ids, mask, seg, head="mlm", mlm_mask=sel).logits
    assert full.shape == (3, 10, CFG.vocab_size) and part.shape == (3, CFG.vocab_size)
    torch.testing.assert_close(part, full[sel])


def test_classification_head(model, gen):
    ids, mask, seg = make_batch(gen)
    assert model(ids, mask, seg, head="cls").logits.shape == (3, CFG.n_labels)


def test_pre_ln_option():
    torch.manual_seed(0)
    pre = BertEncoder(CFG.replace(pre_ln=True)).eval()
    ids = torch.randint(5, 101, (2, 7))
    out = pre(ids, return_attention=True)
    assert isinstance(pre.final_norm, torch.nn.LayerNorm)
    # Pre-LN ends with a LayerNorm: every position has mean ~0, std ~1 across features.
    torch.testing.assert_close(out.hidden_states.mean(-1), torch.zeros(2, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(pre(ids, attention_impl="explicit").hidden_states, out.hidden_states)


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = BertEncoder(CFG)
    torch.manual_seed(3)
    b = BertEncoder(CFG)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


def test_dropout_only_in_training(gen):
    torch.manual_seed(0)
    model = BertEncoder(CFG.replace(dropout=0.5))
    ids, mask, seg = make_batch(gen)
    model.eval()
    torch.testing.assert_close(model(ids).hidden_states, model(ids).hidden_states)
    model.train()
    assert (model(ids).hidden_states - model(ids).hidden_states).abs().max() > 1e-3


@pytest.mark.parametrize("pre_ln", [False, True])
@pytest.mark.parametrize("impl", ["fused", "explicit"])
def test_masked_lm_logits_equal_the_full_forward(gen, pre_ln, impl):
    """The training fast path (last block only at the masked positions) changes nothing the loss sees."""
    torch.manual_seed(0)
    model = BertEncoder(CFG.replace(pre_ln=pre_ln, dropout=0.0, attn_dropout=0.0))
    ids, mask, seg = make_batch(gen)
    selected = torch.rand(ids.shape, generator=gen) < 0.3
    selected[0, [0, 9]] = True  # row 0: first and last position
    selected[1, 6:] = False  # never a padding position
    selected[2] = False  # a row with nothing masked: ragged counts
    params = list(model.parameters())

    def grads(logits):
        return torch.autograd.grad(logits.square().sum(), params, allow_unused=True)

    full = model(ids, mask, seg, head="mlm", mlm_mask=selected, attention_impl=impl).logits
    fast = model.masked_lm_logits(ids, selected, mask, seg, attention_impl=impl)
    assert fast.shape == full.shape == (int(selected.sum()), CFG.vocab_size)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    for (name, _), a, b in zip(model.named_parameters(), grads(full), grads(fast)):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4, msg=name)
    nothing = model.masked_lm_logits(ids, torch.zeros_like(selected))
    assert nothing.shape == (0, CFG.vocab_size)


def test_hidden_states_always_have_one_shape(model, gen):
    ids, mask, seg = make_batch(gen)
    out = model(ids, mask, seg, head="mlm", mlm_mask=ids > 50)
    assert out.hidden_states.shape == (3, 10, CFG.d_model) and out.logits.shape[0] == int((ids > 50).sum())


def test_run_blocks_from_the_middle_equals_the_full_stack(model, gen):
    ids, mask, seg = make_batch(gen)
    out = model(ids, mask, seg)
    top, hidden, _ = model.run_blocks(out.all_hidden_states[1], mask.bool(), start=1)
    torch.testing.assert_close(top, out.hidden_states)
    assert len(hidden) == CFG.n_layers - 1


# ------------------------------------------------------------------ bad input
def test_sequence_longer_than_position_table(model):
    with pytest.raises(ValueError, match=r"seq_len=40 .* max_len=32"):
        model(torch.full((1, 40), 7))


def test_token_ids_outside_vocab(model):
    with pytest.raises(ValueError, match=r"token id 101, outside the vocabulary \[0, 101\)"):
        model(torch.tensor([[2, 101, 3]]))
    with pytest.raises(ValueError, match=r"token id -1"):
        model(torch.tensor([[2, -1, 3]]))


def test_bad_shapes_and_types(model):
    with pytest.raises(ValueError, match=r"\(batch, seq_len\)"):
        model(torch.tensor([2, 5, 3]))
    with pytest.raises(ValueError, match="torch.long"):
        model(torch.tensor([[2.0, 5.0]]))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(torch.tensor([[2, 5, 3]]), attention_mask=torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"token_type_ids must lie in \[0, n_segments=2\)"):
        model(torch.tensor([[2, 5, 3]]), token_type_ids=torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match="is empty"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="head='lm'"):
        model(torch.tensor([[2, 5, 3]]), head="lm")
    with pytest.raises(ValueError, match="attention_impl='flash'"):
        model(torch.tensor([[2, 5, 3]]), attention_impl="flash")


def test_sinusoidal_position_init():
    torch.manual_seed(0)
    model = BertEncoder(CFG.replace(pos_init="sinusoidal"))
    table = model.embeddings.pos_emb.weight.detach()
    torch.testing.assert_close(table.norm(dim=1), torch.ones(CFG.max_len))  # unit rows, larger than token rows
    cos = torch.nn.functional.cosine_similarity
    assert cos(table[10], table[11], dim=0) > cos(table[10], table[25], dim=0)  # neighbours start similar
    with pytest.raises(ValueError, match="pos_init='learned'"):
        ModelConfig(pos_init="learned")
