"""Data: the BBC News corpus, your own text, deterministic splits, and WordPiece tokenizers.

This subpackage imports `transformers`, `torch` and `datasets` only inside the
functions that need them.
"""

from .corpus import (
    BBC_LABELS,
    DATA_DIR,
    SPLIT_NAMES,
    Document,
    bbc_data_dir,
    bbc_splits,
    load_bbc,
    load_hf_dataset,
    load_local,
    load_splits,
    make_splits,
    normalize_whitespace,
    save_splits,
    split_sentences,
)
from .tokenizer import (
    SPECIAL_TOKENS,
    TOKENIZER_DIR,
    encode,
    load_tokenizer,
    minilm_path,
    special_token_ids,
    train_wordpiece,
)

__all__ = [
    "BBC_LABELS",
    "DATA_DIR",
    "SPECIAL_TOKENS",
    "SPLIT_NAMES",
    "TOKENIZER_DIR",
    "Document",
    "bbc_data_dir",
    "bbc_splits",
    "encode",
    "load_bbc",
    "load_hf_dataset",
    "load_local",
    "load_splits",
    "load_tokenizer",
    "make_splits",
    "minilm_path",
    "normalize_whitespace",
    "save_splits",
    "special_token_ids",
    "split_sentences",
    "train_wordpiece",
]
