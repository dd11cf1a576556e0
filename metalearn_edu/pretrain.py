"""Masked-language-model pretraining: packing, the training loop, evaluation, checkpoints.

The loop in `pretrain` is deliberately plain PyTorch:

    for step in range(start, steps):
        batch  = packed blocks chosen by (seed, step)          # data order is a function of the step
        masked = mask_tokens(batch, generator=seed ⊕ step)     # fresh 80/10/10 masking every step
        loss   = Σ CE(logits at masked positions) / #masked   # vocabulary projection only where needed
        loss.backward(); clip; AdamW step; LR schedule step

Because the batch and the masking of step s depend only on (seed, s), and the
checkpoint stores the optimizer, scheduler and RNG state, a run resumed from a
checkpoint reproduces the uninterrupted run's losses exactly on CPU.

Under ``torchrun --nproc_per_node=N`` the same function trains with
DistributedDataParallel: every process masks the same global batch, keeps its
share of the rows, and normalises its loss by the *global* number of masked
tokens, so N processes compute the same update as one process with the whole batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from . import analysis
from .checkpoint import (CheckpointMismatchError, config_differences, load_checkpoint, restore_rng_state, rng_state,
                         save_checkpoint)
from .config import ModelConfig
from .masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_tokens
from .model import BertEncoder
from .runtime import best_autocast_dtype

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OBJECTIVES = ("mlm", "smlmt", "hybrid")


@dataclass(frozen=True)
class PretrainConfig:
    """Hyperparameters of one MLM pretraining run."""

    steps: int = 1000  # optimizer steps in total
    batch_size: int = 32  # sequences per optimizer step (the global batch)
    grad_accum: int = 1  # micro-batches per step; each holds batch_size / grad_accum sequences
    lr: float = 1e-3  # peak learning rate
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # cosine decay from lr down to lr * min_lr_ratio at the last step
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (not on biases and LayerNorms)
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    precision: str = "auto"  # "auto" | "fp32" | "bf16" | "fp16" (fp16 only on CUDA, with a scaler)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    eval_every: int = 100  # steps between evaluations (and at the end)
    checkpoint_every: int = 500  # steps between checkpoints (and at the end) when out_dir is set
    time_budget_s: float | None = None  # stop early once this much training time has passed
    seed: int = 0
    objective: str = "mlm"  # "mlm" | "smlmt" (meta-learning on SMLMT tasks only) | "hybrid" (both, mixed)
    meta_weight: float = 0.5  # λ of the hybrid: (1 − λ)·MLM + λ·SMLMT meta-loss; ignored by mlm/smlmt

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} is not allowed; it must be a positive integer")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} is not allowed; it must be > 0")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio={self.min_lr_ratio} must lie in [0, 1]")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; choose one of {PRECISIONS}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s={self.time_budget_s} must be > 0 (or None for no limit)")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r} is not allowed; choose one of {OBJECTIVES}")
        if isinstance(self.meta_weight, bool) or not isinstance(self.meta_weight, (int, float)) \
                or not 0.0 <= self.meta_weight <= 1.0:
            raise ValueError(f"meta_weight={self.meta_weight!r} is not allowed; the mixing weight λ must lie in "
                             "[0, 1] (0 = MLM only, 1 = SMLMT meta-loss only)")

    @property
    def mix(self) -> float:
        """λ, the weight of the meta-loss: 0 for "mlm", 1 for "smlmt", `meta_weight` for "hybrid"."""
        return {"mlm": 0.0, "smlmt": 1.0}.get(self.objective, float(self.meta_weight))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PretrainConfig":
        d = dict(d)
        d["masking"] = MaskingConfig(**d.get("masking", {}))
        d["betas"] = tuple(d.get("betas", (0.9, 0.98)))
        return cls(**d)


# ---------------------------------------------------------------------------------------
# Data: packing documents into fixed-length blocks
# ---------------------------------------------------------------------------------------
def pack_blocks(texts: Sequence[str], tokenizer: Any, seq_len: int) -> Tensor:
    """Concatenate documents and cut them into [CLS] ... [SEP] blocks of `seq_len` tokens.

    Documents are joined with [SEP] so a block may span a document boundary (as in
    RoBERTa's "full-sentences" packing); no position is padding, so no compute is
    spent on [PAD]. The tail that does not fill a block is dropped.

    Returns:
        (N, seq_len) long tensor.
    """
    if seq_len < 8:
        raise ValueError(f"seq_len={seq_len} is too short; use at least 8 tokens per block")
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one document to pack")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]:
        stream.extend(ids)
        stream.append(sep_id)
    body = seq_len - 2
    n_blocks = len(stream) // body
    if n_blocks == 0:
        raise ValueError(f"the texts hold {len(stream)} tokens, fewer than one block of seq_len={seq_len}")
    chunks = torch.tensor(stream[: n_blocks * body], dtype=torch.long).view(n_blocks, body)
    cls_col = torch.full((n_blocks, 1), cls_id, dtype=torch.long)
    sep_col = torch.full((n_blocks, 1), sep_id, dtype=torch.long)
    return torch.cat([cls_col, chunks, sep_col], dim=1)


def batch_indices(n_blocks: int, batch_size: int, step: int, seed: int) -> Tensor:
    """Which blocks form the batch of `step`: epoch-wise shuffles that depend only on (seed, step)."""
    if batch_size > n_blocks:
        raise ValueError(f"batch_size={batch_size} exceeds the {n_blocks} training blocks; lower batch_size")
    per_epoch = n_blocks // batch_size
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n_blocks, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[i * batch_size:(i + 1) * batch_size]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The masking RNG of one step."""
    return torch.Generator().manual_seed((seed + 1) * 7_919_993 + step)


def lr_factor(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up to 1, then cosine decay to `min_lr_ratio` at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, LayerNorms)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


# ---------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------
@dataclass
class History:
    """What happened during training, as plain lists that plots and JSON read."""

    step: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds of training since the run began
    tokens: list[int] = field(default_factory=list)  # tokens seen (MLM blocks + real tokens of meta episodes)
    train_loss: list[float] = field(default_factory=list)  # the objective: (1 − λ)·MLM + λ·meta
    mlm_loss: list[float] = field(default_factory=list)  # MLM train loss (NaN when λ = 1)
    meta_loss: list[float] = field(default_factory=list)  # SMLMT query loss after adaptation (NaN when λ = 0)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_time: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_perplexity: list[float] = field(default_factory=list)
    eval_top1: list[float] = field(default_factory=list)
    eval_top5: list[float] = field(default_factory=list)
    unigram_loss: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> "History":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: list(v) for k, v in d.items() if k in known})

    def last_eval(self) -> dict[str, float]:
        if not self.eval_step:
            return {}
        return {"step": self.eval_step[-1], "loss": self.eval_loss[-1], "perplexity": self.eval_perplexity[-1],
                "top1": self.eval_top1[-1], "top5": self.eval_top5[-1], "unigram_loss": self.unigram_loss[-1]}


# ---------------------------------------------------------------------------------------
# Loss and evaluation
# ---------------------------------------------------------------------------------------
def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a `PretrainConfig.precision` on `device` (None: fp32)."""
    if precision == "auto":
        return best_autocast_dtype(device)
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision='fp16' needs CUDA; on {device.type} use 'bf16' or 'fp32'")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def mlm_logits(model: torch.nn.Module, input_ids: Tensor, labels: Tensor,
               attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Vocabulary logits at the masked positions only.

    Also runs the last block only at those positions (``masked_positions_only``): the
    loss never sees the other positions' outputs, so this is the same loss for less work.

    Returns:
        logits (N, V) in fp32 and their targets (N,), N = number of labels != -100.
    """
    selected = labels != IGNORE_INDEX  # (B, T)
    out = model(input_ids, attention_mask=attention_mask, head="mlm", mlm_mask=selected,
                masked_positions_only=True)
    return out.logits.float(), labels[selected]


@torch.no_grad()
def evaluate_mlm(model: BertEncoder, blocks: Tensor, vocab: MaskingVocab, unigram_log_probs: Tensor,
                 masking: MaskingConfig = MaskingConfig(), batch_size: int = 64, seed: int = 1234,
                 precision: str = "auto") -> dict[str, float]:
    """Held-out MLM metrics on fixed masks (same `seed` ⇒ same masked tokens every time).

    Args:
        blocks: (N, T) held-out blocks (from `pack_blocks`).
        unigram_log_probs: (V,) log-probabilities of the training-set token
            frequencies: the baseline that predicts every mask without context.

    Returns:
        loss (mean cross-entropy, nats), perplexity, top1 and top5 accuracy of the
        model at the masked tokens, unigram_loss on the same tokens, and n_targets.
    """
    device = next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total = top1 = top5 = n = 0.0
    uni = 0.0
    log_uni = unigram_log_probs.to(device)
    for start in range(0, blocks.shape[0], batch_size):
        masked = mask_tokens(blocks[start:start + batch_size], vocab, masking, generator=gen)
        ids, labels = masked.input_ids.to(device), masked.labels.to(device)
        with _autocast(device, dtype):
            logits, targets = mlm_logits(model, ids, labels)
        total += F.cross_entropy(logits, targets, reduction="sum").item()
        best5 = logits.topk(5, dim=-1).indices  # (N, 5)
        top1 += (best5[:, 0] == targets).sum().item()
        top5 += (best5 == targets[:, None]).any(-1).sum().item()
        uni += -log_uni[targets].sum().item()
        n += targets.numel()
    model.train(was_training)
    if n == 0:
        raise ValueError("no token was masked in the evaluation blocks; pass more blocks")
    loss = total / n
    return {"loss": loss, "perplexity": math.exp(loss), "top1": top1 / n, "top5": top5 / n,
            "unigram_loss": uni / n, "n_targets": int(n)}


# ---------------------------------------------------------------------------------------
# Distributed helpers
# ---------------------------------------------------------------------------------------
def _dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed_from_env() -> tuple[int, int, torch.device | None]:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1).

    Returns:
        (rank, world_size, device): gloo on CPU, NCCL with one GPU per process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    rank = torch.distributed.get_rank()
    device = None
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, world, device


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------
CHECKPOINT_NAME = "checkpoint.pt"


def _train_state(model, optimizer, scheduler, step, cfg, history, tokenizer_ref):
    """Everything a resumed run needs (masking RNGs are per step, so only torch's global RNG is stored)."""
    return {
        "model": model.state_dict(), "config": model.cfg.to_dict(), "pretrain_config": cfg.to_dict(),
        "step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": rng_state(), "tokenizer": tokenizer_ref, "history": history.to_dict(),
    }


def pretrain(model: BertEncoder, train_blocks: Tensor, eval_blocks: Tensor, vocab: MaskingVocab,
             cfg: PretrainConfig = PretrainConfig(), out_dir: str | Path | None = None,
             resume: bool = True, tokenizer_ref: str = "", progress: bool = True,
             log: Callable[[str], None] | None = print, eval_batch_size: int = 64,
             meta_objective: Any | None = None) -> History:
    """Pretrain `model` with masked-language modelling (in place) and return its history.

    With ``cfg.objective="smlmt"`` or ``"hybrid"`` each step also (or only) adds
    λ × the meta-gradient of `meta_objective` (an `metalearn_edu.meta.SMLMTObjective`):
    the step minimises (1 − λ)·L_MLM + λ·L_meta with λ = ``cfg.mix``.

    Args:
        model: the encoder to train (its device decides where training runs).
        train_blocks: (N, T) packed training blocks (`pack_blocks`).
        eval_blocks: (M, T) packed held-out blocks for `evaluate_mlm`.
        vocab: the tokenizer's ids for masking (`MaskingVocab.from_tokenizer`).
        cfg: hyperparameters.
        out_dir: where ``checkpoint.pt`` and ``history.json`` go; None = no files.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.
        tokenizer_ref: a string that says which tokenizer the ids come from; stored.
        progress: show a tqdm progress bar (rank 0 only).
        log: where evaluation lines go (None: silent).
        meta_objective: needed when λ > 0; anything with
            ``backward(model, step, weight) -> (loss, tokens)``.

    Returns:
        The `History` (also saved as JSON in `out_dir`).

    Ctrl-C saves a checkpoint before the KeyboardInterrupt propagates.
    """
    rank, world = _dist_info()
    device = next(model.parameters()).device
    dtype = autocast_dtype(cfg.precision, device)
    if cfg.batch_size % (world * cfg.grad_accum):
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by world_size × grad_accum = "
                         f"{world} × {cfg.grad_accum}")
    if vocab.vocab_size > model.cfg.vocab_size:
        raise ValueError(f"the tokenizer has {vocab.vocab_size} ids but the model's vocab_size is "
                         f"{model.cfg.vocab_size}; build the model with vocab_size={vocab.vocab_size}")
    if train_blocks.shape[1] > model.cfg.max_len:
        raise ValueError(f"blocks have seq_len={train_blocks.shape[1]} > the model's max_len={model.cfg.max_len}")
    mix = cfg.mix
    if mix > 0 and meta_objective is None:
        raise ValueError(f"objective={cfg.objective!r} needs meta_objective (e.g. metalearn_edu.meta.SMLMTObjective)")
    if mix > 0 and world > 1:
        raise ValueError(f"objective={cfg.objective!r} runs on one process; use torchrun only for objective='mlm'")

    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    history = History()
    start_step, time_offset = 0, 0.0

    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        # Compare as ModelConfigs, so a field added to the library later (at its default) is no mismatch.
        stored = ModelConfig.from_dict(state["config"]).to_dict()
        differences = config_differences(stored, model.cfg.to_dict())
        if differences:
            raise CheckpointMismatchError(differences, ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        history = History.from_dict(state["history"])
        start_step = state["step"]
        time_offset = history.time[-1] if history.time else 0.0
        if log and rank == 0:
            log(f"resumed from {ckpt_path} at step {start_step}")
    tokens_seen = history.tokens[-1] if history.tokens else 0

    counts = analysis.count_tokens(train_blocks, vocab.vocab_size, ignore_ids=vocab.special_ids)  # never targets
    log_uni = analysis.unigram_log_probs(counts)

    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # the classification head gets no gradient in MLM training

    def save(step: int) -> None:
        if ckpt_path is None or rank != 0:
            return
        save_checkpoint(ckpt_path, _train_state(model, optimizer, scheduler, step, cfg, history, tokenizer_ref))
        (ckpt_path.parent / "history.json").write_text(json.dumps(history.to_dict()))

    def run_eval(step: int, elapsed: float) -> None:
        metrics = evaluate_mlm(model, eval_blocks, vocab, log_uni, cfg.masking, eval_batch_size,
                               precision=cfg.precision)
        history.eval_step.append(step)
        history.eval_time.append(elapsed)
        history.eval_loss.append(metrics["loss"])
        history.eval_perplexity.append(metrics["perplexity"])
        history.eval_top1.append(metrics["top1"])
        history.eval_top5.append(metrics["top5"])
        history.unigram_loss.append(metrics["unigram_loss"])
        if log and rank == 0:
            log(f"step {step:>6}  eval loss {metrics['loss']:.3f}  (unigram {metrics['unigram_loss']:.3f})  "
                f"top-1 {metrics['top1']:.3f}  top-5 {metrics['top5']:.3f}")

    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc="MLM pretraining", unit="step")

    micro = cfg.batch_size // (world * cfg.grad_accum)  # rows per micro-batch on this process
    model.train()
    t0 = time.perf_counter() - time_offset
    step = start_step
    try:
        while step < cfg.steps:
            loss_sum, n_masked = 0.0, 0
            if mix < 1:
                # 1) the global batch of this step, masked identically on every process
                idx = batch_indices(train_blocks.shape[0], cfg.batch_size, step, cfg.seed)
                masked = mask_tokens(train_blocks[idx], vocab, cfg.masking, generator=step_generator(cfg.seed, step))
                n_masked = int((masked.labels != IGNORE_INDEX).sum())
                mine = slice(rank, None, world)  # this process's rows
                ids, labels = masked.input_ids[mine].to(device), masked.labels[mine].to(device)
                # 2) forward/backward per micro-batch; loss normalised by the global masked count
                for a in range(cfg.grad_accum):
                    rows = slice(a * micro, (a + 1) * micro)
                    sync = a == cfg.grad_accum - 1 or world == 1
                    ctx = contextlib.nullcontext() if sync else train_model.no_sync()
                    with ctx, _autocast(device, dtype):
                        logits, targets = mlm_logits(train_model, ids[rows], labels[rows])
                        ce_sum = F.cross_entropy(logits, targets, reduction="sum")
                        # DDP averages gradients over processes, hence × world; the hybrid weighs by 1 − λ
                        loss = ce_sum * (world * (1.0 - mix) / max(n_masked, 1))
                    (scaler.scale(loss) if scaler else loss).backward()
                    loss_sum += ce_sum.item()
                tokens_seen += cfg.batch_size * train_blocks.shape[1]
            meta_loss = float("nan")
            if mix > 0:
                # 2b) the meta-learning term: λ × the SMLMT meta-gradient, in fp32 (× the fp16 loss
                # scale, which unscale_ divides out again, like the MLM term's)
                weight = mix * (scaler.get_scale() if scaler else 1.0)
                meta_loss, meta_tokens = meta_objective.backward(model, step, weight=weight)  # unweighted loss
                tokens_seen += meta_tokens
            # 3) clip, step, schedule
            if scaler:
                scaler.unscale_(optimizer)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lr_now = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            if world > 1:
                t = torch.tensor([loss_sum], dtype=torch.float64, device=device)
                torch.distributed.all_reduce(t)
                loss_sum = t.item()
            mlm_loss = loss_sum / max(n_masked, 1) if mix < 1 else float("nan")
            train_loss = (0.0 if mix == 1 else (1 - mix) * mlm_loss) + (0.0 if mix == 0 else mix * meta_loss)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"the training loss became {train_loss} at step {step} with lr={lr_now:.3g}; "
                                         "lower lr or raise warmup_steps")
            elapsed = time.perf_counter() - t0
            history.step.append(step)
            history.time.append(elapsed)
            history.tokens.append(tokens_seen)
            history.train_loss.append(train_loss)
            history.mlm_loss.append(mlm_loss)
            history.meta_loss.append(meta_loss)
            history.lr.append(lr_now)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.3f}")
            out_of_time = cfg.time_budget_s is not None and elapsed >= cfg.time_budget_s
            if out_of_time and start_step == 0 and step == 1:
                raise ValueError(f"time_budget_s={cfg.time_budget_s:g} is too small to take one step (the first "
                                 f"step took {elapsed:.1f} s); give a budget of at least a few steps")
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                run_eval(step, elapsed)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
                save(step)
            if out_of_time:
                if log and rank == 0:
                    log(f"time budget of {cfg.time_budget_s:.0f} s reached at step {step}")
                break
    except KeyboardInterrupt:
        if log and rank == 0 and ckpt_path is not None:
            log(f"interrupted: saving a checkpoint at step {step} to {ckpt_path}")
        save(step)
        raise
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return history
