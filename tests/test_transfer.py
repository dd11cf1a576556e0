"""Moving an encoder's body to a new vocabulary (`metalearn_edu.transfer`)."""

import pytest
import torch

from metalearn_edu.config import ModelConfig
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrain import PretrainConfig, pretrain
from metalearn_edu.transfer import NEW_LANGUAGE_PARAMETERS, freeze_body, transplant_body, unfreeze

CFG = ModelConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=20, dropout=0.0, attn_dropout=0.0)


def _english():
    torch.manual_seed(0)
    return BertEncoder(CFG)


def test_the_body_is_copied_and_the_vocabulary_is_new():
    english = _english()
    new = transplant_body(english, vocab_size=80, seed=1)
    assert new.cfg.vocab_size == 80 and new.embeddings.tok_emb.weight.shape == (80, 16)
    old = english.state_dict()
    for name, tensor in new.state_dict().items():
        if name in NEW_LANGUAGE_PARAMETERS:
            assert tensor.shape[0] == 80
        else:
            assert torch.equal(tensor, old[name]), name
    # the decoder stays tied to the new embeddings: one parameter
    assert new.embeddings.tok_emb.weight.data_ptr() in {p.data_ptr() for p in new.parameters()}
    again = transplant_body(english, vocab_size=80, seed=1)
    assert torch.equal(again.embeddings.tok_emb.weight, new.embeddings.tok_emb.weight)  # seeded


def test_frozen_body_training_moves_only_the_new_embeddings():
    english = _english()
    new = transplant_body(english, vocab_size=60)
    assert freeze_body(new) == list(NEW_LANGUAGE_PARAMETERS)
    before = {n: p.detach().clone() for n, p in new.named_parameters()}
    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(5, 60, (32, 12), generator=gen)
    blocks[:, 0], blocks[:, -1] = 2, 3
    vocab = MaskingVocab(vocab_size=60, mask_id=4, special_ids=(0, 1, 2, 3, 4))
    pretrain(new, blocks, blocks[:8], vocab, PretrainConfig(steps=3, batch_size=8, precision="fp32", lr=1e-2,
                                                           warmup_steps=1, eval_every=100), progress=False, log=None)
    for name, p in new.named_parameters():
        changed = not torch.equal(p.detach(), before[name])
        assert changed == (name in NEW_LANGUAGE_PARAMETERS), name
    unfreeze(new)
    assert all(p.requires_grad for p in new.parameters())
    with pytest.raises(ValueError, match="not parameters"):
        freeze_body(new, ("nope",))
