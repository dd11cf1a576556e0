"""Deterministic document-level splits, stored as a JSON manifest of document ids.

Splits are made per *document* (never per sentence, and with duplicate documents kept together,
so no text leaks from train into test). The BBC split is stored in ``data/splits.json``, which
``scripts/build_data.py`` regenerates bit for bit.
"""

from __future__ import annotations

import collections
import json
import math
import random
from pathlib import Path
from typing import Any, Sequence

from .documents import DATA_DIR, DATA_ENV_VAR, Document

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(fractions)
    except TypeError:
        values = ()
    if (
        len(values) != 3
        or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in values)
        or not all(math.isfinite(f) and f >= 0 for f in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            f"fractions={fractions!r} is not allowed; give three non-negative numbers "
            "(train, val, test) that sum to 1, e.g. (0.8, 0.1, 0.1)"
        )
    return tuple(float(f) for f in values)  # type: ignore[return-value]


def _allocate(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split n items into three counts proportional to `fractions` (largest remainder)."""
    raw = [round(n * f, 9) for f in fractions]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _duplicate_groups(documents: Sequence[Document]) -> list[list[str]]:
    """Doc ids grouped so that documents with the same text or the same title share a group.

    Texts are compared case-folded with whitespace collapsed; titles case-folded.
    (BBC News has 101 such duplicate texts, 98 of them byte-identical, and ~30
    re-edited versions of a story under the same headline.) Groups and their
    members come out sorted.
    """
    parent = {doc.doc_id: doc.doc_id for doc in documents}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, str] = {}
    for doc in documents:
        keys = ["text:" + " ".join(doc.text.split()).casefold()]
        if doc.title and doc.title.strip():
            keys.append("title:" + doc.title.strip().casefold())
        for key in keys:
            if key in first_with:
                a, b = sorted((find(first_with[key]), find(doc.doc_id)))
                parent[b] = a
            else:
                first_with[key] = doc.doc_id
    groups: dict[str, list[str]] = {}
    for doc_id in sorted(parent):
        groups.setdefault(find(doc_id), []).append(doc_id)
    return sorted(groups.values())


def make_splits(
    documents: Sequence[Document],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_duplicates: bool = True,
) -> dict[str, list[str]]:
    """Deterministic document-level train/val/test split, stratified by label.

    1) With `group_duplicates`, documents with the same text or the same title
       are tied together so that they land in the same split (otherwise a test
       article could have an exact copy in train).
    2) Documents are grouped by label (unlabelled ones form one stratum; a tied
       group goes with its first member's label).
    3) Each stratum's target sizes are its size times `fractions`
       (largest-remainder rounding).
    4) Its tied groups, in id order, are shuffled with ``random.Random(seed)``
       and dealt out in turn: each goes to the first split (train, val, test)
       with room for it, else to the one with the most room left.

    Without duplicates this is a plain shuffle-and-cut per label, and every
    label's share of each split is within one document of exact; a tied pair
    at a boundary can move that by one more.

    Args:
        documents: the corpus; doc ids must be unique.
        fractions: (train, val, test) shares: non-negative, summing to 1.
        seed: the shuffle seed; the same documents and seed give the same split.
        group_duplicates: keep same-text / same-title documents together.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each a sorted list of doc ids.

    Raises:
        ValueError: for bad `fractions` or `seed`, an empty corpus or duplicate ids.

    Example:
        >>> docs = [Document(f"d{i}", f"text {i}", label="ab"[i % 2]) for i in range(10)]
        >>> {k: len(v) for k, v in make_splits(docs, (0.6, 0.2, 0.2)).items()}
        {'train': 6, 'val': 2, 'test': 2}
    """
    fractions = _check_fractions(fractions)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} is not allowed; it must be an integer")
    if len(documents) == 0:
        raise ValueError("documents is empty; there is nothing to split")
    ids = [doc.doc_id for doc in documents]
    if len(set(ids)) != len(ids):
        counts = collections.Counter(ids)
        raise ValueError(f"doc ids must be unique; duplicated: {sorted(i for i, c in counts.items() if c > 1)[:5]}")

    label_of = {doc.doc_id: "" if doc.label is None else str(doc.label) for doc in documents}
    tied = _duplicate_groups(documents) if group_duplicates else [[i] for i in sorted(ids)]
    strata: dict[str, list[list[str]]] = {}
    for group in tied:
        strata.setdefault(label_of[group[0]], []).append(group)

    rng = random.Random(seed)
    splits: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(strata):
        groups = strata[label]
        rng.shuffle(groups)
        room = _allocate(sum(len(g) for g in groups), fractions)
        for group in groups:
            fits = [k for k in range(3) if room[k] >= len(group)]
            k = fits[0] if fits else max(range(3), key=lambda j: (room[j], -j))
            room[k] -= len(group)
            splits[SPLIT_NAMES[k]] += group
    return {name: sorted(members) for name, members in splits.items()}


def save_splits(splits: dict[str, list[str]], path: str | Path, **header: Any) -> Path:
    """Write a split manifest as JSON: the `header` fields, counts, then the id lists.

    Args:
        splits: ``{"train": ids, "val": ids, "test": ids}``.
        path: the ``.json`` file to write (folders are created).
        **header: JSON-serialisable facts worth recording, e.g.
            ``corpus="bbc", seed=0, fractions=[0.8, 0.1, 0.1], stratified=True``.

    Returns:
        The path written.

    The output is stable (fixed key order, one id per line, ``"\\n"`` line ends),
    so the same splits always give the same bytes.
    """
    _check_split_dict(splits, source="splits")
    for reserved in ("counts", "splits"):
        if reserved in header:
            raise ValueError(f"header field {reserved!r} is written by save_splits itself; drop it")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        **header,
        "counts": {name: len(splits[name]) for name in SPLIT_NAMES},
        "splits": {name: list(splits[name]) for name in SPLIT_NAMES},
    }
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return path


def _check_split_dict(splits: Any, source: str) -> None:
    if not isinstance(splits, dict) or set(splits) != set(SPLIT_NAMES):
        keys = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
        raise ValueError(f"{source} must map exactly {list(SPLIT_NAMES)} to lists of doc ids; got {keys}")
    for name in SPLIT_NAMES:
        if not isinstance(splits[name], list) or not all(isinstance(i, str) for i in splits[name]):
            raise ValueError(f"{source}[{name!r}] must be a list of doc-id strings")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        overlap = sorted(set(splits[a]) & set(splits[b]))
        if overlap:
            raise ValueError(f"{source}: splits {a!r} and {b!r} share {len(overlap)} ids, e.g. {overlap[:3]}")


def read_manifest(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    path = Path(path) if path is not None else DATA_DIR / "splits.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"split manifest {path} not found; regenerate it with `python scripts/build_data.py` "
            f"or point ${DATA_ENV_VAR} at a folder that has splits.json"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"split manifest {path} is not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or "splits" not in manifest:
        raise ValueError(f"split manifest {path} has no 'splits' field")
    _check_split_dict(manifest["splits"], source=str(path))
    return path, manifest


def load_splits(path: str | Path | None = None) -> dict[str, list[str]]:
    """Read a manifest written by `save_splits`.

    Args:
        path: the JSON file; defaults to ``DATA_DIR / "splits.json"`` (the shipped BBC split).

    Returns:
        ``{"train": ids, "val": ids, "test": ids}``.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it is malformed or two splits share an id.
    """
    return read_manifest(path)[1]["splits"]
