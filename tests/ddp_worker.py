"""Run a few steps of `pretrain` on synthetic blocks; used by test_pretrain under torchrun.

    python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py OUT.json
    python tests/ddp_worker.py OUT.json            # the single-process reference
"""

import json
import sys

import torch

from metalearn_edu.config import ModelConfig
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrain import PretrainConfig, init_distributed_from_env, pretrain
from metalearn_edu.runtime import finish_distributed


def synthetic_setup(vocab_size: int = 120, seq_len: int = 16, n_blocks: int = 64, seed: int = 0):
    """A tiny model (no dropout) and blocks of random 'words' between [CLS] and [SEP]."""
    gen = torch.Generator().manual_seed(seed)
    blocks = torch.randint(5, vocab_size, (n_blocks, seq_len), generator=gen)
    blocks[:, 0], blocks[:, -1] = 2, 3
    vocab = MaskingVocab(vocab_size=vocab_size, mask_id=4, special_ids=(0, 1, 2, 3, 4))
    cfg = ModelConfig(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=seq_len,
                      dropout=0.0, attn_dropout=0.0, pre_ln=True)
    torch.manual_seed(seed)
    return BertEncoder(cfg), blocks, vocab


def main(out_path: str) -> None:
    torch.set_num_threads(1)
    rank, world, _ = init_distributed_from_env()
    model, blocks, vocab = synthetic_setup()
    cfg = PretrainConfig(steps=5, batch_size=8, lr=3e-3, warmup_steps=1, eval_every=100, precision="fp32")
    history = pretrain(model, blocks, blocks[:8], vocab, cfg, progress=False, log=None)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"world": world, "train_loss": history.train_loss}, f)
    finish_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
