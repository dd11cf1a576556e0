"""Time to quality: our `pretrain` vs transformers' `Trainer` + `BertForMaskedLM`, same budget.

    python benchmarks/time_to_quality.py --budget 600       # 10 minutes each (needs `pip install -e .[bench]`)

Same data (the BBC train split packed into 128-token blocks with the course tokenizer), same
model config (post-LN, as BERT), same batch, learning rate, warm-up (then constant), AdamW
betas, weight decay and clipping, same 15% 80/10/10 masking; each side trains for the same
wall-clock budget in its own default way: ours with `precision="auto"` (bf16 autocast where the
CPU has native bf16) and logits only at masked positions, the Trainer with
`DataCollatorForLanguageModeling` in its default fp32 (pass --hf-bf16 to give it bf16 too).
Both are then scored by the same function (`evaluate_mlm`, fixed masks on held-out blocks).
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=600.0, help="seconds of training for each side")
    p.add_argument("--size", default="mini")
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--hf-bf16", action="store_true", help="let the Trainer use bf16 autocast as well")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    from transformers import BertForMaskedLM, DataCollatorForLanguageModeling, Trainer, TrainerCallback, \
        TrainingArguments

    from metalearn_edu import analysis
    from metalearn_edu.config import model_config
    from metalearn_edu.data import bbc_splits, load_tokenizer
    from metalearn_edu.interop import config_to_hf, load_hf_bert
    from metalearn_edu.masking import MaskingVocab
    from metalearn_edu.model import BertEncoder
    from metalearn_edu.pretrain import PretrainConfig, evaluate_mlm, pack_blocks, pretrain

    tokenizer = load_tokenizer()
    splits = bbc_splits()
    train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, args.seq)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, args.seq)[:256]
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    counts = analysis.count_tokens(train_blocks, vocab.vocab_size, ignore_ids=vocab.special_ids)
    log_uni = analysis.unigram_log_probs(counts)
    cfg = model_config(args.size, vocab_size=len(tokenizer), max_len=args.seq, attn_dropout=0.0)
    many = 1_000_000  # the budget, not the step count, ends both runs

    def score(model) -> dict:
        return evaluate_mlm(model, eval_blocks, vocab, log_uni, precision="fp32")

    # 1) ours
    torch.manual_seed(0)
    ours = BertEncoder(cfg)
    ours_cfg = PretrainConfig(steps=many, batch_size=args.batch, lr=args.lr, warmup_steps=args.warmup,
                              min_lr_ratio=1.0, weight_decay=0.01, betas=(0.9, 0.98), grad_clip=1.0,
                              precision="auto", eval_every=many, checkpoint_every=many,
                              time_budget_s=args.budget, seed=0)
    history = pretrain(ours, train_blocks, eval_blocks, vocab, ours_cfg, progress=False, log=None)
    ours_result = {**score(ours), "steps": history.step[-1], "seconds": history.time[-1]}

    # 2) transformers' Trainer
    class Budget(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, args_, state, control, **k):
            if time.perf_counter() - self.t0 >= args.budget:
                control.should_training_stop = True
                self.steps, self.seconds = state.global_step, time.perf_counter() - self.t0

    torch.manual_seed(0)
    hf = BertForMaskedLM(config_to_hf(cfg))
    dataset = [{"input_ids": row} for row in train_blocks.tolist()]
    budget = Budget()
    trainer = Trainer(
        model=hf,
        args=TrainingArguments(
            output_dir="runs/ttq-hf", max_steps=many, per_device_train_batch_size=args.batch,
            learning_rate=args.lr, warmup_steps=args.warmup, lr_scheduler_type="constant_with_warmup",
            weight_decay=0.01, adam_beta1=0.9, adam_beta2=0.98, max_grad_norm=1.0, bf16=args.hf_bf16,
            use_cpu=not torch.cuda.is_available(), report_to=[], save_strategy="no", logging_steps=1000,
            dataloader_num_workers=0, seed=0, disable_tqdm=True),
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15),
        callbacks=[budget],
    )
    trainer.train()
    hf_result = {**score(load_hf_bert(hf.cpu())), "steps": budget.steps, "seconds": budget.seconds}

    print(f"budget {args.budget:.0f} s each; config {args.size} post-LN, batch {args.batch} × {args.seq}, "
          f"lr {args.lr}, unigram baseline {ours_result['unigram_loss']:.3f}")
    print("| trainer | steps | held-out MLM loss | top-1 | top-5 |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("metalearn-edu `pretrain` (auto precision)", ours_result),
                    (f"transformers `Trainer` ({'bf16' if args.hf_bf16 else 'fp32'})", hf_result)):
        print(f"| {name} | {r['steps']} | {r['loss']:.3f} | {r['top1']:.3f} | {r['top5']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours_result, "transformers": hf_result, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
