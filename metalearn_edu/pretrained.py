"""Shipped and saved models: export, one-call loading, and fill-mask.

A *model file* (``model.pt``) is a small checkpoint without optimizer state:
``{"model": state_dict, "config": ModelConfig dict, "tokenizer": reference,
"history": History dict, "metrics": final metrics, "pretrain_config": dict}``.
The course ships one under ``data/checkpoints/``; `load_pretrained` loads it (or
any exported model) with its tokenizer in one call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ModelConfig
from .data import DATA_DIR, load_tokenizer
from .model import BertEncoder
from .runtime import eval_mode

CHECKPOINTS_DIR = DATA_DIR / "checkpoints"
DEFAULT_CHECKPOINT = "mlm-micro"
MODEL_FILE = "model.pt"


def export_model(model: BertEncoder, out_dir: str | Path, tokenizer_ref: str = "shipped",
                 history: dict | None = None, metrics: dict | None = None,
                 pretrain_config: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model.pt`` (+ ``metrics.json``, ``history.json``, ``config.json``) to `out_dir`.

    Args:
        tokenizer_ref: "shipped" (the course tokenizer), "minilm", or a path.
        dtype: storage dtype of floating weights (fp16 halves the file; loading
            casts back to fp32).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    save_checkpoint(out / MODEL_FILE, {
        "model": state, "config": model.cfg.to_dict(), "tokenizer": tokenizer_ref,
        "history": history or {}, "metrics": metrics or {}, "pretrain_config": pretrain_config or {},
    })
    (out / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2) + "\n")
    if metrics:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if history:
        (out / "history.json").write_text(json.dumps(history) + "\n")
    return out / MODEL_FILE


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        path = path / MODEL_FILE
    if path.is_file():
        return path
    shipped = CHECKPOINTS_DIR / str(name_or_path) / MODEL_FILE
    if shipped.is_file():
        return shipped
    available = sorted(p.parent.name for p in CHECKPOINTS_DIR.glob(f"*/{MODEL_FILE}"))
    raise FileNotFoundError(f"no model at {name_or_path!r}; pass a directory or file holding {MODEL_FILE}, "
                            f"or a shipped name: {available or '(none shipped under ' + str(CHECKPOINTS_DIR) + ')'}")


def load_pretrained(name_or_path: str | Path = DEFAULT_CHECKPOINT, device: str | torch.device = "cpu",
                    with_tokenizer: bool = True) -> tuple[BertEncoder, Any, dict[str, Any]]:
    """Load an exported model (a shipped name like ``"mlm-micro"`` or a path) in one call.

    Returns:
        (model in eval mode, its tokenizer or None, info) where info holds
        ``history``, ``metrics``, ``pretrain_config`` and ``path``.

    Example:
        >>> model, tokenizer, info = load_pretrained()        # doctest: +SKIP
        >>> info["metrics"]["loss"] < info["metrics"]["unigram_loss"]   # doctest: +SKIP
        True
    """
    path = _resolve(name_or_path)
    state = load_checkpoint(path)
    cfg = ModelConfig.from_dict(state["config"])
    model = BertEncoder(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    model.to(device).eval()
    tokenizer = None
    if with_tokenizer:
        ref = state.get("tokenizer") or "shipped"
        tokenizer = load_tokenizer(None if ref == "shipped" else ref)
    info = {k: state.get(k, {}) for k in ("history", "metrics", "pretrain_config")}
    info["path"] = path
    return model, tokenizer, info


@torch.no_grad()
def fill_mask(model: BertEncoder, tokenizer: Any, text: str, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """The model's top-k guesses for every ``[MASK]`` in `text`.

    Returns:
        One list per [MASK], in order, of (token, probability) pairs.

    Example:
        >>> fill_mask(model, tokenizer, "the [MASK] said on monday.", top_k=3)  # doctest: +SKIP
        [[('minister', 0.21), ('company', 0.09), ('spokesman', 0.07)]]
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty; pass a sentence containing [MASK]")
    if not 1 <= top_k <= model.cfg.vocab_size:
        raise ValueError(f"top_k={top_k} must lie in [1, vocab_size={model.cfg.vocab_size}]")
    mask_token = tokenizer.mask_token
    if mask_token not in text:
        raise ValueError(f"text has no {mask_token} token; write e.g. 'the {mask_token} said ...'")
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=model.cfg.max_len)
    device = next(model.parameters()).device
    ids = enc["input_ids"].to(device)
    where = ids == tokenizer.mask_token_id  # (1, T)
    with eval_mode(model):
        logits = model(ids, attention_mask=enc["attention_mask"].to(device), head="mlm", mlm_mask=where).logits
    return mask_guesses(logits, tokenizer, top_k)


def mask_guesses(logits: torch.Tensor, tokenizer: Any, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """The `top_k` most probable tokens at each predicted position, with their probabilities.

    Args:
        logits: (N, V) MLM logits, one row per position (e.g. ``model(..., head="mlm", mlm_mask=m).logits``).
        tokenizer: turns ids into tokens.

    Returns:
        N lists of (token, probability), most probable first.
    """
    top = logits.detach().float().softmax(-1).topk(top_k, dim=-1)
    return [[(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(ps, ix)]
            for ps, ix in zip(top.values, top.indices)]
