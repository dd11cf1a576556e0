"""Masked-language-model pretraining: packing, the training loop, evaluation, checkpoints.

The loop in `pretrain` is deliberately plain PyTorch:

    for step in range(start, steps):
        batch  = packed blocks chosen by (seed, step)          # data order is a function of the step
        masked = mask_tokens(batch, generator=(seed, step))    # fresh 80/10/10 masking every step
        loss   = Σ CE(logits at masked positions) / #masked   # vocabulary projection only where needed
        loss.backward(); clip; AdamW step; LR schedule step
        evaluate and save when due; stop here if Ctrl-C / SIGTERM was pressed

Because the batch and the masking of step s depend only on (seed, s), and the checkpoint stores
the optimizer, scheduler and RNG state, a run resumed from a checkpoint reproduces the
uninterrupted run's losses exactly on CPU. Checkpoints are only ever taken *between* steps: a
signal during a step (data, forward, backward, optimizer), an evaluation or a save is noted and
honoured once that work is complete (`metalearn_edu.runtime.deferred_interrupts`); a second
signal stops at once without saving, and the last checkpoint on disk is then where a rerun resumes.

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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from . import analysis
from .checkpoint import (CheckpointMismatchError, config_differences, load_checkpoint, restore_rng_state, rng_state,
                         save_checkpoint)
from .checks import check_int, check_number
from .config import ModelConfig
from .masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, mask_tokens
from .model import BertEncoder
from .runtime import (PRECISIONS, all_reduce_sum, any_process, autocast, clock, deferred_interrupts, derived_generator,
                      dist_info, eval_mode, init_distributed_from_env, precision_dtype)

__all__ = ["CHECKPOINT_NAME", "History", "PretrainConfig", "TrainingInterrupted", "batch_indices", "evaluate_mlm",
           "init_distributed_from_env", "lr_factor", "make_optimizer", "mlm_logits", "pack_blocks", "pretrain",
           "step_generator"]

OBJECTIVES = ("mlm", "smlmt", "hybrid")
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class PretrainConfig:
    """Hyperparameters of one MLM pretraining run."""

    steps: int = 1000  # optimizer steps in total (the length of the learning-rate schedule)
    stop_after: int | None = None  # end after this many steps, part-way through the schedule (None: at `steps`)
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
            check_int(name, getattr(self, name))
        if self.stop_after is not None:
            check_int("stop_after", self.stop_after, hint=" (or None to run the whole schedule)")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}")
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        check_number("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_number("grad_clip", self.grad_clip, low=0.0, hint=" (0 disables clipping)")
        if len(self.betas) != 2:
            raise ValueError(f"betas={self.betas!r} is not allowed; give two numbers in [0, 1)")
        for b in self.betas:
            check_number("betas", b, low=0.0, high=1.0, high_open=True)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not allowed; choose one of {PRECISIONS}")
        if not isinstance(self.masking, MaskingConfig):
            raise ValueError(f"masking must be a MaskingConfig, got {type(self.masking).__name__}")
        if self.time_budget_s is not None:
            check_number("time_budget_s", self.time_budget_s, low=0.0, low_open=True, hint=" (or None for no limit)")
        check_int("seed", self.seed, minimum=None)
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r} is not allowed; choose one of {OBJECTIVES}")
        check_number("meta_weight", self.meta_weight, low=0.0, high=1.0,
                     hint=" (the mixing weight λ: 0 = MLM only, 1 = SMLMT meta-loss only)")

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
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 8:
        raise ValueError(f"seq_len={seq_len!r} is too short; use at least 8 tokens per block")
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
    perm = torch.randperm(n_blocks, generator=derived_generator(seed, epoch, "batch-order"))
    return perm[i * batch_size:(i + 1) * batch_size]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The masking RNG of one step."""
    return derived_generator(seed, step, "masking")


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

    def record_step(self, step: int, elapsed: float, tokens: int, losses: "StepLosses", lr: float) -> None:
        self.step.append(step)
        self.time.append(elapsed)
        self.tokens.append(tokens)
        self.train_loss.append(losses.train)
        self.mlm_loss.append(losses.mlm)
        self.meta_loss.append(losses.meta)
        self.lr.append(lr)

    def record_eval(self, step: int, elapsed: float, metrics: dict[str, float]) -> None:
        self.eval_step.append(step)
        self.eval_time.append(elapsed)
        self.eval_loss.append(metrics["loss"])
        self.eval_perplexity.append(metrics["perplexity"])
        self.eval_top1.append(metrics["top1"])
        self.eval_top5.append(metrics["top5"])
        self.unigram_loss.append(metrics["unigram_loss"])

    def last_eval(self) -> dict[str, float]:
        if not self.eval_step:
            return {}
        return {"step": self.eval_step[-1], "loss": self.eval_loss[-1], "perplexity": self.eval_perplexity[-1],
                "top1": self.eval_top1[-1], "top5": self.eval_top5[-1], "unigram_loss": self.unigram_loss[-1]}


# ---------------------------------------------------------------------------------------
# Loss and evaluation
# ---------------------------------------------------------------------------------------
def mlm_logits(model: BertEncoder, input_ids: Tensor, labels: Tensor,
               attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Vocabulary logits at the masked positions only (`BertEncoder.masked_lm_logits`).

    Returns:
        logits (N, V) in fp32 and their targets (N,), N = number of labels != -100.
    """
    selected = labels != IGNORE_INDEX  # (B, T)
    return model.masked_lm_logits(input_ids, selected, attention_mask).float(), labels[selected]


class MaskedLMLoss(torch.nn.Module):
    """Σ cross-entropy over the masked tokens, as a module, so that DistributedDataParallel can wrap it.

    Shapes:
        input_ids, labels: (B, T), labels −100 where nothing is predicted; result: a scalar.
    """

    def __init__(self, model: BertEncoder):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, labels: Tensor) -> Tensor:
        logits, targets = mlm_logits(self.model, input_ids, labels)
        return F.cross_entropy(logits, targets, reduction="sum")


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
    dtype = precision_dtype(precision, device)
    gen = torch.Generator().manual_seed(seed)
    total = top1 = top5 = n = 0.0
    uni = 0.0
    log_uni = unigram_log_probs.to(device)
    with eval_mode(model):
        for start in range(0, blocks.shape[0], batch_size):
            masked = mask_tokens(blocks[start:start + batch_size], vocab, masking, generator=gen)
            ids, labels = masked.input_ids.to(device), masked.labels.to(device)
            with autocast(device, dtype):
                logits, targets = mlm_logits(model, ids, labels)
            total += F.cross_entropy(logits, targets, reduction="sum").item()
            best5 = logits.topk(5, dim=-1).indices  # (N, 5)
            top1 += (best5[:, 0] == targets).sum().item()
            top5 += (best5 == targets[:, None]).any(-1).sum().item()
            uni += -log_uni[targets].sum().item()
            n += targets.numel()
    if n == 0:
        raise ValueError("no token was masked in the evaluation blocks; pass more blocks")
    loss = total / n
    return {"loss": loss, "perplexity": math.exp(loss), "top1": top1 / n, "top5": top5 / n,
            "unigram_loss": uni / n, "n_targets": int(n)}


# ---------------------------------------------------------------------------------------
# One training step, in named pieces
# ---------------------------------------------------------------------------------------
@dataclass
class StepLosses:
    """The losses of one step: the objective (1 − λ)·MLM + λ·meta and its two terms (NaN when unused)."""

    train: float
    mlm: float
    meta: float


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped `pretrain`; `checkpoint` is the file a rerun resumes from (or None)."""

    def __init__(self, message: str, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


@dataclass
class _Run:
    """The mutable state of a `pretrain` call: everything a step, an evaluation or a save touches."""

    model: BertEncoder
    train_loss: torch.nn.Module  # MaskedLMLoss(model), wrapped in DistributedDataParallel under torchrun
    cfg: PretrainConfig
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: Any  # a GradScaler for fp16, else None
    dtype: torch.dtype | None
    device: torch.device
    history: History
    step: int
    tokens_seen: int
    t0: float  # runtime.clock() at the (virtual) start of the run, so resumed runs continue the clock
    checkpoint: Path | None
    tokenizer_ref: str
    saved_step: int = -1

    @property
    def elapsed(self) -> float:
        return clock() - self.t0

    def save(self) -> None:
        """Write the checkpoint (rank 0, when there is a run directory) and ``history.json`` beside it."""
        if self.checkpoint is None or dist_info()[0] != 0 or self.saved_step == self.step:
            return
        save_checkpoint(self.checkpoint, {
            "model": self.model.state_dict(), "config": self.model.cfg.to_dict(),
            "pretrain_config": self.cfg.to_dict(), "step": self.step, "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": rng_state(), "tokenizer": self.tokenizer_ref,
            "history": self.history.to_dict()})
        (self.checkpoint.parent / "history.json").write_text(json.dumps(self.history.to_dict()))
        self.saved_step = self.step


def _check_setup(model: BertEncoder, train_blocks: Tensor, vocab: MaskingVocab, cfg: PretrainConfig, world: int,
                 meta_objective: Any | None) -> None:
    if cfg.batch_size % (world * cfg.grad_accum):
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by world_size × grad_accum = "
                         f"{world} × {cfg.grad_accum}")
    if vocab.vocab_size > model.cfg.vocab_size:
        raise ValueError(f"the tokenizer has {vocab.vocab_size} ids but the model's vocab_size is "
                         f"{model.cfg.vocab_size}; build the model with vocab_size={vocab.vocab_size}")
    if train_blocks.shape[1] > model.cfg.max_len:
        raise ValueError(f"blocks have seq_len={train_blocks.shape[1]} > the model's max_len={model.cfg.max_len}")
    if cfg.mix > 0 and meta_objective is None:
        raise ValueError(f"objective={cfg.objective!r} needs meta_objective (e.g. metalearn_edu.meta.SMLMTObjective)")
    if cfg.mix > 0 and world > 1:
        raise ValueError(f"objective={cfg.objective!r} runs on one process; use torchrun only for objective='mlm'")


def _resume(run: _Run, log: Callable[[str], None] | None) -> None:
    """Load model, optimizer, scheduler, RNG and history from ``run.checkpoint`` into `run`."""
    state = load_checkpoint(run.checkpoint, map_location=run.device)
    # Compare as ModelConfigs, so a field added to the library later (at its default) is no mismatch.
    differences = config_differences(ModelConfig.from_dict(state["config"]).to_dict(), run.model.cfg.to_dict())
    if differences:
        raise CheckpointMismatchError(differences, run.checkpoint)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"])
    run.history = History.from_dict(state["history"])
    run.step = run.saved_step = state["step"]
    run.tokens_seen = run.history.tokens[-1] if run.history.tokens else 0
    run.t0 = clock() - (run.history.time[-1] if run.history.time else 0.0)
    if log and dist_info()[0] == 0:
        log(f"resumed from {run.checkpoint} at step {run.step}")


def mlm_backward(run: _Run, train_blocks: Tensor, vocab: MaskingVocab, weight: float) -> tuple[float, int]:
    """Backpropagate `weight` × the MLM loss of step ``run.step`` into the ``.grad`` of the model.

    1) the global batch of this step, masked identically on every process; 2) each process takes
    its rows, in ``grad_accum`` micro-batches; 3) the loss is normalised by the *global* number of
    masked tokens (× world size, because DDP averages gradients over processes).

    Returns:
        (summed cross-entropy over all processes' masked tokens, global number of masked tokens).
    """
    cfg = run.cfg
    rank, world = dist_info()
    idx = batch_indices(train_blocks.shape[0], cfg.batch_size, run.step, cfg.seed)
    masked = mask_tokens(train_blocks[idx], vocab, cfg.masking, generator=step_generator(cfg.seed, run.step))
    n_masked = int((masked.labels != IGNORE_INDEX).sum())
    mine = slice(rank, None, world)
    ids, labels = masked.input_ids[mine].to(run.device), masked.labels[mine].to(run.device)
    micro = cfg.batch_size // (world * cfg.grad_accum)
    ce_total = 0.0
    for a in range(cfg.grad_accum):
        rows = slice(a * micro, (a + 1) * micro)
        sync = a == cfg.grad_accum - 1 or world == 1
        with (contextlib.nullcontext() if sync else run.train_loss.no_sync()), autocast(run.device, run.dtype):
            ce_sum = run.train_loss(ids[rows], labels[rows])
            loss = ce_sum * (world * weight / max(n_masked, 1))
        (run.scaler.scale(loss) if run.scaler else loss).backward()
        ce_total += ce_sum.item()
    return all_reduce_sum(ce_total, run.device), n_masked


def optimizer_step(run: _Run) -> float:
    """Unscale (fp16), clip, step AdamW and the schedule; return the learning rate this step used."""
    if run.scaler:
        run.scaler.unscale_(run.optimizer)
    if run.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    if run.scaler:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    lr = run.scheduler.get_last_lr()[0]
    run.scheduler.step()
    return lr


def train_step(run: _Run, train_blocks: Tensor, vocab: MaskingVocab, meta_objective: Any | None) -> StepLosses:
    """One optimizer step on (1 − λ)·MLM + λ·meta; advances ``run.step`` and ``run.tokens_seen``."""
    mix = run.cfg.mix
    mlm_loss = meta_loss = math.nan
    if mix < 1:
        ce_sum, n_masked = mlm_backward(run, train_blocks, vocab, weight=1.0 - mix)
        mlm_loss = ce_sum / max(n_masked, 1)
        run.tokens_seen += run.cfg.batch_size * train_blocks.shape[1]
    if mix > 0:
        # λ × the SMLMT meta-gradient, in fp32 (× the fp16 loss scale, which unscale_ divides out again)
        weight = mix * (run.scaler.get_scale() if run.scaler else 1.0)
        meta_loss, meta_tokens = meta_objective.backward(run.model, run.step, weight=weight)
        run.tokens_seen += meta_tokens
    lr = optimizer_step(run)
    run.step += 1
    train = (0.0 if mix == 1 else (1 - mix) * mlm_loss) + (0.0 if mix == 0 else mix * meta_loss)
    if not math.isfinite(train):
        raise FloatingPointError(f"the training loss became {train} at step {run.step} with lr={lr:.3g}; "
                                 "lower lr or raise warmup_steps")
    run.history.record_step(run.step, run.elapsed, run.tokens_seen, StepLosses(train, mlm_loss, meta_loss), lr)
    return StepLosses(train, mlm_loss, meta_loss)


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------
def pretrain(model: BertEncoder, train_blocks: Tensor, eval_blocks: Tensor, vocab: MaskingVocab,
             cfg: PretrainConfig = PretrainConfig(), out_dir: str | Path | None = None,
             resume: bool = True, tokenizer_ref: str = "", progress: bool = True,
             log: Callable[[str], None] | None = print, eval_batch_size: int = 64,
             meta_objective: Any | None = None, on_step: Callable[[int], None] | None = None,
             optimizer_state: dict[Any, Any] | None = None) -> History:
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
        on_step: called with the step number after every optimiser step (e.g. to move a widget's
            progress bar).
        optimizer_state: AdamW's per-parameter moments to start from instead of zeros: the
            ``"state"`` entry of another run's ``optimizer.state_dict()`` over the same parameters
            (e.g. ``load_checkpoint(path)["optimizer"]["state"]``). The learning rate and schedule
            are still this run's `cfg`. Ignored when the run resumes from its own checkpoint.

    Returns:
        The `History` (also saved as JSON in `out_dir`).

    Raises:
        TrainingInterrupted: after Ctrl-C or SIGTERM. The first signal lets the current step (and
            an evaluation or save in progress) finish, saves a checkpoint and then raises; a
            second signal raises at once without saving. Rerunning resumes exactly.
        FloatingPointError: when the training loss stops being finite.
    """
    rank, world = dist_info()
    device = next(model.parameters()).device
    _check_setup(model, train_blocks, vocab, cfg, world, meta_objective)
    dtype = precision_dtype(cfg.precision, device)
    optimizer = make_optimizer(model, cfg)
    train_loss = MaskedLMLoss(model) if world == 1 else torch.nn.parallel.DistributedDataParallel(
        MaskedLMLoss(model), device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True)  # the classification head gets no gradient in MLM training
    run = _Run(model, train_loss, cfg, optimizer,
               torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg)),
               torch.amp.GradScaler("cuda") if dtype == torch.float16 else None, dtype, device, History(), 0, 0,
               clock(), Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None, tokenizer_ref)
    if run.checkpoint is not None and resume and run.checkpoint.exists():
        _resume(run, log)
    elif optimizer_state is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]  # state_dict's index order
        if any(not isinstance(i, int) or not 0 <= i < len(params) or
               v["exp_avg"].shape != params[i].shape for i, v in optimizer_state.items()):
            raise ValueError("optimizer_state does not fit this model's parameters; give the 'state' of an AdamW "
                             "state_dict made over the same architecture (e.g. a pretrain checkpoint's optimizer)")
        # this run's param_groups (learning rate, schedule), the other run's moments
        optimizer.load_state_dict({**optimizer.state_dict(), "state": optimizer_state})
    log_uni = analysis.unigram_log_probs(  # the baseline's probabilities; special ids are never targets
        analysis.count_tokens(train_blocks, vocab.vocab_size, ignore_ids=vocab.special_ids))
    say = log if log and rank == 0 else (lambda message: None)
    bar = _progress_bar(cfg.steps, run.step) if progress and rank == 0 else None
    model.train()
    try:
        with deferred_interrupts() as interrupt:
            try:
                _loop(run, train_blocks, eval_blocks, vocab, log_uni, eval_batch_size, meta_objective, bar, say,
                      interrupt, on_step)
            except KeyboardInterrupt as err:  # a second signal, or one we could not defer: no save mid-step
                if isinstance(err, TrainingInterrupted):
                    raise
                where = f"the last checkpoint ({run.checkpoint}, step {run.saved_step})" if run.saved_step >= 0 \
                    else "no checkpoint"
                raise TrainingInterrupted(f"stopped at once during step {run.step + 1}; a rerun resumes from "
                                          f"{where}", run.step, run.checkpoint if run.saved_step >= 0 else None) from err
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return run.history


def _loop(run: _Run, train_blocks: Tensor, eval_blocks: Tensor, vocab: MaskingVocab, log_uni: Tensor,
          eval_batch_size: int, meta_objective: Any | None, bar: Any, say: Callable[[str], None],
          interrupt: Any, on_step: Callable[[int], None] | None = None) -> None:
    """Steps until the end, the time budget or a signal; evaluations and saves at step boundaries."""
    cfg, start_step = run.cfg, run.step
    end = cfg.steps if cfg.stop_after is None else min(cfg.steps, cfg.stop_after)
    if cfg.time_budget_s is not None and run.history.time and run.history.time[-1] >= cfg.time_budget_s:
        return  # a resumed run whose time budget was already spent: nothing to do
    if run.step >= end and (not run.history.eval_step or run.history.eval_step[-1] != run.step):
        _evaluate(run, eval_blocks, vocab, log_uni, eval_batch_size, say)  # a final evaluation that was cut short
        run.save()
    while run.step < end:
        losses = train_step(run, train_blocks, vocab, meta_objective)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses.train:.3f}", refresh=False)
        if on_step is not None:
            on_step(run.step)
        out_of_time = cfg.time_budget_s is not None and run.elapsed >= cfg.time_budget_s
        if out_of_time and start_step == 0 and run.step == 1:
            raise ValueError(f"time_budget_s={cfg.time_budget_s:g} is too small to take one step (the first "
                             f"step took {run.elapsed:.1f} s); give a budget of at least a few steps")
        last = run.step == end or out_of_time
        if run.step % cfg.eval_every == 0 or last:
            _evaluate(run, eval_blocks, vocab, log_uni, eval_batch_size, say)
        if run.step % cfg.checkpoint_every == 0 or last:
            run.save()
        if any_process(interrupt.requested, run.device):
            run.save()
            saved = f"saved a checkpoint at step {run.step} to {run.checkpoint}" if run.checkpoint else \
                "no run directory was given, so nothing was saved"
            say(f"interrupted: {saved}")
            raise TrainingInterrupted(f"interrupted after step {run.step}: {saved}; run the same command again "
                                      "to resume", run.step, run.checkpoint)
        if out_of_time:
            say(f"time budget of {cfg.time_budget_s:.0f} s reached at step {run.step}")
            break


def _evaluate(run: _Run, eval_blocks: Tensor, vocab: MaskingVocab, log_uni: Tensor, batch_size: int,
              say: Callable[[str], None]) -> None:
    metrics = evaluate_mlm(run.model, eval_blocks, vocab, log_uni, run.cfg.masking, batch_size,
                           precision=run.cfg.precision)
    run.history.record_eval(run.step, run.elapsed, metrics)
    say(f"step {run.step:>6}  eval loss {metrics['loss']:.3f}  (unigram {metrics['unigram_loss']:.3f})  "
        f"top-1 {metrics['top1']:.3f}  top-5 {metrics['top5']:.3f}")


def _progress_bar(total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="MLM pretraining", unit="step")
