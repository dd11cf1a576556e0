"""Our encoder against transformers' BERT: same weights must give the same numbers."""

import pytest
import torch
from transformers import AutoTokenizer, BertForMaskedLM, BertModel

from metalearn_edu import load_hf_bert, to_hf_bert
from metalearn_edu.config import ModelConfig
from metalearn_edu.data import minilm_path
from metalearn_edu.model import BertEncoder

TOL = 1e-5

RANDOM_CONFIGS = [
    ModelConfig(vocab_size=97, d_model=48, n_layers=3, n_heads=3, d_ff=80, max_len=40),
    ModelConfig(vocab_size=211, d_model=90, n_layers=2, n_heads=5, d_ff=130, max_len=24, activation="gelu_tanh"),
    ModelConfig(vocab_size=50, d_model=20, n_layers=1, n_heads=4, d_ff=36, max_len=16, activation="relu",
                layer_norm_eps=1e-6),
]


def perturbed_model(cfg: ModelConfig, seed: int) -> BertEncoder:
    """A random model whose biases and LayerNorms are not at their (trivial) init."""
    torch.manual_seed(seed)
    model = BertEncoder(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def batch(cfg: ModelConfig, seed: int, B: int = 3):
    gen = torch.Generator().manual_seed(seed)
    T = cfg.max_len - 3
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T // 2:] = 0  # padding in the batch
    mask[2, 3:] = 0
    segments = torch.zeros_like(ids)
    segments[:, T // 3:] = 1  # two segments
    return ids, mask, segments


def assert_same_outputs(ours, hf_out, mask=None):
    assert len(ours.all_hidden_states) == len(hf_out.hidden_states)
    for layer, (a, b) in enumerate(zip(ours.all_hidden_states, hf_out.hidden_states)):
        diff = (a - b).abs().max().item()
        assert diff <= TOL, f"hidden states of layer {layer} differ by {diff}"
    assert (ours.hidden_states - hf_out.hidden_states[-1]).abs().max() <= TOL
    for layer, (a, b) in enumerate(zip(ours.attentions, hf_out.attentions)):
        diff = (a - b).abs().max().item()
        assert diff <= TOL, f"attention of layer {layer} differs by {diff}"


@pytest.mark.parametrize("index", range(len(RANDOM_CONFIGS)))
def test_to_hf_matches_on_random_configs(index):
    cfg = RANDOM_CONFIGS[index]
    ours = perturbed_model(cfg, seed=index)
    hf = to_hf_bert(ours)
    assert isinstance(hf, BertForMaskedLM) and hf.config._attn_implementation == "eager"
    ids, mask, seg = batch(cfg, seed=index)
    with torch.no_grad():
        o = ours(ids, mask, seg, return_attention=True, head="mlm")
        h = hf(input_ids=ids, attention_mask=mask, token_type_ids=seg, output_attentions=True,
               output_hidden_states=True)
    assert_same_outputs(o, h)
    assert (o.logits - h.logits).abs().max() <= 1e-4  # logits are larger numbers: 1e-4 absolute
    # The fused path computes the same hidden states.
    fused = ours(ids, mask, seg, attention_impl="fused")
    assert (fused.hidden_states - h.hidden_states[-1]).abs().max() <= TOL


@pytest.mark.parametrize("index", range(len(RANDOM_CONFIGS)))
def test_load_hf_matches_on_random_configs(index):
    cfg = RANDOM_CONFIGS[index]
    torch.manual_seed(100 + index)
    hf_config = to_hf_bert(BertEncoder(cfg)).config
    hf = BertModel(hf_config).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = load_hf_bert(hf)
    assert ours.cfg == cfg
    ids, mask, seg = batch(cfg, seed=index)
    with torch.no_grad():
        o = ours(ids, mask, seg, return_attention=True)
        h = hf(input_ids=ids, attention_mask=mask, token_type_ids=seg, output_attentions=True,
               output_hidden_states=True)
    assert_same_outputs(o, h)
    pooled = torch.tanh(ours.cls_head.pool(o.hidden_states[:, 0]))
    assert (pooled - h.pooler_output).abs().max() <= TOL


def test_round_trip_keeps_every_weight():
    cfg = RANDOM_CONFIGS[0]
    ours = perturbed_model(cfg, seed=7)
    back = load_hf_bert(to_hf_bert(ours))
    ours_state, back_state = ours.state_dict(), back.state_dict()
    for name, value in ours_state.items():
        if name.startswith("cls_head."):  # BertForMaskedLM has no pooler/classifier
            continue
        assert torch.equal(value, back_state[name]), name
    base = load_hf_bert(to_hf_bert(ours, with_mlm_head=False))
    assert torch.equal(base.cls_head.pool.weight, ours.cls_head.pool.weight)


def test_load_from_a_local_directory(tmp_path):
    cfg = RANDOM_CONFIGS[1]
    ours = perturbed_model(cfg, seed=3)
    to_hf_bert(ours).save_pretrained(tmp_path / "mlm")
    loaded = load_hf_bert(tmp_path / "mlm")
    ids, mask, seg = batch(cfg, seed=3)
    a = ours(ids, mask, seg, head="mlm").logits
    b = loaded(ids, mask, seg, head="mlm").logits
    assert (a - b).abs().max() <= TOL


def test_export_refuses_pre_ln():
    with pytest.raises(ValueError, match="pre_ln=True"):
        to_hf_bert(BertEncoder(RANDOM_CONFIGS[0].replace(pre_ln=True)))


def test_bad_sources():
    with pytest.raises(TypeError, match="BertModel or BertForMaskedLM"):
        load_hf_bert(torch.nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_bert("/nonexistent/model-dir")


@pytest.fixture(scope="module")
def minilm():
    path = minilm_path()
    hf = BertModel.from_pretrained(path, attn_implementation="eager").eval()
    return path, hf, AutoTokenizer.from_pretrained(path)


def test_real_minilm_matches(minilm):
    path, hf, tok = minilm
    ours = load_hf_bert(path)
    assert (ours.cfg.n_layers, ours.cfg.d_model, ours.cfg.n_heads, ours.cfg.vocab_size) == (6, 384, 12, 30522)
    enc = tok(["The cat sat on the mat.", "Shares in the bank rose sharply after the results, analysts said."],
              ["A second segment.", "Short."], padding=True, return_tensors="pt")
    assert enc["attention_mask"].min() == 0 and enc["token_type_ids"].max() == 1
    with torch.no_grad():
        o = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], return_attention=True)
        h = hf(**enc, output_attentions=True, output_hidden_states=True)
    assert_same_outputs(o, h)
    # The same weights, passed as an object rather than a directory.
    from_object = load_hf_bert(hf)
    assert torch.equal(from_object.blocks[5].attn.q_proj.weight, ours.blocks[5].attn.q_proj.weight)
