"""Chapter 2's plateau, put to the test: why does phase 2 of the shipped checkpoint stall, then drop?

    python benchmarks/plateau.py --out benchmarks/results/plateau.json      # ~60 CPU-min, resumes
    python benchmarks/plateau.py --parts phase1 variants --seeds 0 --steps 100 --out runs/plateau-quick.json

The shipped `mlm-micro` was pretrained in two phases (README, "The shipped checkpoint"): 3,000 steps
on 32-token blocks, then 2,000 steps on 128-token blocks from phase 1's weights with a fresh AdamW
and a new warm-up to 1e-3. Phase 2's training loss starts above where phase 1 ended, sits on a
plateau for a few hundred steps and then drops. Two explanations fit that curve:

* **positions**: rows 32–127 of the position table never had a gradient in phase 1, so three
  quarters of a 128-token block carry position vectors the model has never seen;
* **optimizer restart**: phase 2 starts AdamW from zero moments and warms the learning rate up to
  1e-3 again, while phase 1 had decayed it to 2e-4.

The parts:

* ``phase1``: rebuilds phase 1 exactly as the README's command does (``metalearn-edu pretrain``, seed
  0, 1 thread; ~16 CPU-min), keeping its checkpoint (weights *and* AdamW moments), and compares its
  losses with the shipped ``phase1_history.json``.
* ``first_attempt``: the same model on 128-token blocks from the start, for the same 3,000 steps and
  the same 4,096 tokens per step as phase 1 (32 blocks × 128 instead of 128 × 32): the first-attempt
  recipe that chapter 2 contrasts with the two phases (~17 CPU-min).
* ``variants``: phase 2 for ``--steps`` steps of its 2,000-step schedule from phase 1's end, under
  four conditions × ``--seeds``:
  ``shipped`` (as shipped), ``positions_copied`` (rows 32–127 set to rows 0–31, repeated; a fresh
  optimizer as shipped), ``optimizer_kept`` (phase 1's AdamW moments, no new warm-up), and ``both``.
  Every ``--eval-every`` steps it records the held-out MLM loss on fixed masks, split into the
  positions phase 1 trained (0–31) and the ones it never saw (32–127).

Budgets are CPU seconds of one thread. The JSON is written atomically after every finished run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from metalearn_edu import analysis
from metalearn_edu.checkpoint import load_checkpoint, save_json
from metalearn_edu.data import bbc_splits, load_tokenizer, split_sentences
from metalearn_edu.masking import MaskingConfig, MaskingVocab, mask_tokens
from metalearn_edu.model import BertEncoder
from metalearn_edu.config import ModelConfig
from metalearn_edu.pretrain import PretrainConfig, mlm_logits, pack_blocks, pretrain
from metalearn_edu.pretrained import DEFAULT_CHECKPOINT, load_pretrained
from metalearn_edu.runtime import eval_mode

CONDITIONS = ("shipped", "positions_copied", "optimizer_kept", "both")
SHORT = 32  # phase 1's block length: the position rows it trained
ROOT = Path(__file__).resolve().parent.parent
# The README's phase-1 command, and the first attempt: 128-token blocks from the start, same tokens per step.
PHASE1 = ["--preset", "cpu", "--model-size", "micro", "--precision", "fp32", "--lr", "2e-3", "--warmup-steps", "200",
          "--steps", "3000", "--seq-len", "32", "--max-len", "128", "--batch-size", "128", "--dropout", "0.0",
          "--threads", "1", "--seed", "0"]
FIRST_ATTEMPT = ["--preset", "cpu", "--model-size", "micro", "--precision", "fp32", "--lr", "2e-3",
                 "--warmup-steps", "200", "--steps", "3000", "--seq-len", "128", "--batch-size", "32",
                 "--dropout", "0.0", "--threads", "1", "--seed", "0"]


def cli_pretrain(options: list[str], out: Path) -> dict[str, Any]:
    """Run (or resume) ``metalearn-edu pretrain`` with `options`; return its exported history and metrics."""
    export = out.parent / (out.name + "-export")
    if not (export / "metrics.json").exists():
        subprocess.run([sys.executable, "-m", "metalearn_edu.cli", "pretrain", *options, "--quiet", "--out", str(out),
                        "--export", str(export)], check=True, env={**os.environ, "METALEARN_CLOCK": "process"})
    return {"history": json.loads((export / "history.json").read_text()),
            "metrics": json.loads((export / "metrics.json").read_text())}


def fixed_masks(blocks: torch.Tensor, vocab: MaskingVocab, seed: int = 1234):
    """The same masked copy of the held-out blocks for every evaluation."""
    masked = mask_tokens(blocks, vocab, MaskingConfig(), generator=torch.Generator().manual_seed(seed))
    return masked.input_ids, masked.labels


@torch.no_grad()
def loss_by_position(model: BertEncoder, ids: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Held-out MLM loss (nats) at all masked tokens, at positions 0–31 and at positions 32–127."""
    losses, positions = [], []
    with eval_mode(model):
        for start in range(0, ids.shape[0], 64):
            i, lab = ids[start:start + 64], labels[start:start + 64]
            logits, targets = mlm_logits(model, i, lab)
            losses.append(F.cross_entropy(logits, targets, reduction="none"))
            positions.append((lab != -100).nonzero()[:, 1])  # row-major, the order of the selected logits
    loss, pos = torch.cat(losses), torch.cat(positions)
    return {"all": loss.mean().item(), "short": loss[pos < SHORT].mean().item(),
            "long": loss[pos >= SHORT].mean().item()}


def phase1_start(checkpoint: Path, copy_positions: bool) -> BertEncoder:
    state = load_checkpoint(checkpoint)
    model = BertEncoder(ModelConfig.from_dict(state["config"]).replace(dropout=0.0, attn_dropout=0.0))
    model.load_state_dict(state["model"])
    if copy_positions:
        with torch.no_grad():
            table = model.embeddings.pos_emb.weight  # (max_len, D)
            rows = torch.arange(SHORT, table.shape[0])
            table[SHORT:] = table[rows % SHORT]
    return model


def run_variant(condition: str, seed: int, args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    checkpoint = args.runs_dir / "phase1" / "checkpoint.pt"
    model = phase1_start(checkpoint, condition in ("positions_copied", "both"))
    kept = condition in ("optimizer_kept", "both")
    shipped = load_pretrained(DEFAULT_CHECKPOINT, with_tokenizer=False)[2]["pretrain_config"]
    cfg = PretrainConfig.from_dict({**shipped, "seed": seed, "stop_after": args.steps, "eval_every": args.steps,
                                    "checkpoint_every": args.steps, "warmup_steps": 0 if kept else shipped["warmup_steps"]})
    evals = {"step": [0], **{k: [v] for k, v in loss_by_position(model, *data["masked"]).items()}}

    def on_step(step: int) -> None:
        if step % args.eval_every == 0:
            evals["step"].append(step)
            for k, v in loss_by_position(model, *data["masked"]).items():
                evals[k].append(v)

    start = time.process_time()
    history = pretrain(model, data["train"], data["eval"], data["vocab"], cfg, progress=False, log=None,
                       on_step=on_step, optimizer_state=load_checkpoint(checkpoint)["optimizer"]["state"] if kept else None)
    stats = analysis.model_attention_stats(model, data["tokenizer"], data["sentences"])
    return {"condition": condition, "seed": seed, "config": cfg.to_dict(), "cpu_seconds": time.process_time() - start,
            "train_loss": [round(v, 4) for v in history.train_loss], "lr": history.lr, "eval": evals,
            "max_prev": float(stats["prev"].max()), "max_next": float(stats["next"].max())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["phase1", "first_attempt", "variants"],
                   choices=["phase1", "first_attempt", "variants"])
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="phase-2 seeds (batches and masks)")
    p.add_argument("--steps", type=int, default=600, help="phase-2 steps of each variant (of its 2,000-step schedule)")
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--eval-blocks", type=int, default=128, help="held-out 128-token blocks for the split loss")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "plateau", help="phase 1's and the first "
                   "attempt's run directories (checkpoints) go here")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("METALEARN_CLOCK", "process")

    results: dict[str, Any] = {"settings": {"steps": args.steps, "eval_every": args.eval_every,
                                            "eval_blocks": args.eval_blocks, "seeds": args.seeds,
                                            "conditions": args.conditions, "phase1": PHASE1,
                                            "first_attempt": FIRST_ATTEMPT}, "runs": {}}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
        if previous["settings"]["steps"] == args.steps:
            results.update({k: v for k, v in previous.items() if k != "settings"})
    if "phase1" in args.parts or "variants" in args.parts:
        if "phase1" not in results:
            run = cli_pretrain(PHASE1, args.runs_dir / "phase1")
            folder = load_pretrained(DEFAULT_CHECKPOINT, with_tokenizer=False)[2]["path"].parent
            shipped = json.loads((folder / "phase1_history.json").read_text())
            gap = max(abs(a - b) for a, b in zip(run["history"]["train_loss"], shipped["train_loss"]))
            results["phase1"] = {"metrics": run["metrics"], "end_train_loss": run["history"]["train_loss"][-100:],
                                 "max_abs_diff_from_shipped": gap}
            print(f"phase 1 rebuilt: largest training-loss difference from the shipped history {gap:.2e}", flush=True)
            save_json(args.out, results)
    if "first_attempt" in args.parts and "first_attempt" not in results:
        run = cli_pretrain(FIRST_ATTEMPT, args.runs_dir / "first-attempt")
        h = run["history"]
        results["first_attempt"] = {"metrics": run["metrics"], "step": h["step"], "train_loss": h["train_loss"],
                                    "eval_step": h["eval_step"], "eval_loss": h["eval_loss"],
                                    "unigram_loss": h["unigram_loss"], "time": h["time"][-1]}
        save_json(args.out, results)
    if "variants" in args.parts:
        tokenizer = load_tokenizer()
        splits = bbc_splits()
        eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, 128)
        vocab = MaskingVocab.from_tokenizer(tokenizer)
        data = {"train": pack_blocks([d.text for d in splits["train"]], tokenizer, 128), "eval": eval_blocks[:64],
                "vocab": vocab, "masked": fixed_masks(eval_blocks[:args.eval_blocks], vocab), "tokenizer": tokenizer,
                "sentences": [s for d in splits["val"] for s in split_sentences(d.text)][:512]}
        for seed in args.seeds:
            for condition in args.conditions:
                name = f"{condition}/seed={seed}"
                if name in results["runs"]:
                    continue
                run = run_variant(condition, seed, args, data)
                results["runs"][name] = run
                e = run["eval"]
                print(f"{name}: held-out loss at positions 32–127 {e['long'][0]:.2f} → {e['long'][-1]:.2f}, "
                      f"0–31 {e['short'][0]:.2f} → {e['short'][-1]:.2f} ({run['cpu_seconds']:.0f} CPU-s)", flush=True)
                save_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
