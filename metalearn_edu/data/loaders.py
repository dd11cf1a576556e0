"""Your own text as `Document` records: local ``.txt``/``.csv``/``.jsonl`` files and folders, and
Hugging Face ``datasets`` corpora."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from .documents import Document, normalize_whitespace, read_text_file

LOCAL_SUFFIXES: tuple[str, ...] = (".txt", ".csv", ".jsonl")


_DEFAULT_LABEL_COLUMN = "label"


def _field_to_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _field_to_label(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def _records_to_documents(
    records: Iterable[tuple[str, Any, Any]], source: str, text_column: str
) -> list[Document]:
    """(doc_id, text, label) records → Documents; empty texts are skipped with one warning."""
    documents, skipped = [], 0
    for doc_id, text, label in records:
        text = normalize_whitespace(_field_to_text(text))
        if not text:
            skipped += 1
            continue
        documents.append(Document(doc_id=doc_id, text=text, label=_field_to_label(label)))
    if skipped:
        warnings.warn(
            f"skipped {skipped} empty or whitespace-only documents (column {text_column!r}) in {source}",
            stacklevel=3,
        )
    if not documents:
        raise ValueError(f"{source} yields no documents: every {text_column!r} value is empty")
    return documents


def _check_columns(
    available: Sequence[str], text_column: str, label_column: str | None, source: str
) -> str | None:
    """Check the text column exists; return the label column to use (None when absent and defaulted)."""
    if text_column not in available:
        raise ValueError(
            f"text_column={text_column!r} is not a column of {source}; available columns: {list(available)}"
        )
    if label_column is not None and label_column not in available:
        if label_column == _DEFAULT_LABEL_COLUMN:
            return None  # unlabelled data: the default label column is optional
        raise ValueError(
            f"label_column={label_column!r} is not a column of {source}; available columns: "
            f"{list(available)} (pass label_column=None for unlabelled data)"
        )
    return label_column


def _load_txt_file(path: Path) -> list[Document]:
    text = normalize_whitespace(read_text_file(path))
    if not text:
        raise ValueError(f"{path} is empty; a .txt file needs documents separated by blank lines")
    blocks = text.split("\n\n")
    return [Document(doc_id=f"{path.stem}/{i}", text=block) for i, block in enumerate(blocks)]


def _load_txt_dir(path: Path) -> list[Document]:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise ValueError(f"{path} is a folder without .txt files; put one document per .txt file in it")

    def records() -> Iterable[tuple[str, Any, Any]]:
        for file in files:
            relative = file.relative_to(path)
            label = relative.parts[0] if len(relative.parts) > 1 else None
            yield relative.with_suffix("").as_posix(), read_text_file(file), label

    return _records_to_documents(records(), source=str(path), text_column="file content")


def _load_csv(path: Path, text_column: str, label_column: str | None) -> list[Document]:
    content = read_text_file(path)
    if not content.strip():
        raise ValueError(f"{path} is empty; a .csv file needs a header row and one row per document")
    reader = csv.DictReader(io.StringIO(content, newline=""))
    label_column = _check_columns(reader.fieldnames or [], text_column, label_column, str(path))
    rows = list(reader)
    if not rows:
        raise ValueError(f"{path} has a header but no rows")
    return _records_to_documents(
        ((f"{path.stem}/{i}", row.get(text_column), row.get(label_column) if label_column else None)
         for i, row in enumerate(rows)),
        source=str(path),
        text_column=text_column,
    )


def _load_jsonl(path: Path, text_column: str, label_column: str | None) -> list[Document]:
    content = read_text_file(path)
    if not content.strip():
        raise ValueError(f"{path} is empty; a .jsonl file needs one JSON object per line")
    rows = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {line_no}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {line_no}: expected a JSON object, got {type(row).__name__}")
        if text_column not in row:
            raise ValueError(
                f"text_column={text_column!r} is missing on line {line_no} of {path}; "
                f"available columns: {list(row)}"
            )
        rows.append(row)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    label_column = _check_columns(columns, text_column, label_column, str(path))
    return _records_to_documents(
        ((f"{path.stem}/{i}", row.get(text_column), row.get(label_column) if label_column else None)
         for i, row in enumerate(rows)),
        source=str(path),
        text_column=text_column,
    )


def load_local(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
) -> list[Document]:
    """Load your own text as `Document` records.

    Supported inputs:

    * ``.txt``: one document per blank-line-separated block (no labels);
    * ``.csv``: a header row, then one document per row (read with the `csv` module);
    * ``.jsonl``: one JSON object per line;
    * a folder: every ``.txt`` file below it is one document, labelled by its
      first-level subfolder (``data/<label>/<name>.txt``, like BBC); files directly
      in the folder are unlabelled.

    Whitespace is normalised as in `normalize_whitespace`. Empty or
    whitespace-only documents are skipped with a single warning that counts them.

    Args:
        path: the file or folder.
        text_column: the column (csv) or key (jsonl) holding the text.
        label_column: the column/key holding the label; None for unlabelled data.
            A missing *default* ``"label"`` column just means no labels; a missing
            column you named is an error.

    Returns:
        The documents in file order; ids are ``"<file stem>/<row index>"`` (files)
        or the relative path without ``.txt`` (folders).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for an unsupported extension, a missing column (the message
            lists the available ones), an empty file, or no non-empty document.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        return _load_txt_dir(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _load_txt_file(path)
    if suffix == ".csv":
        return _load_csv(path, text_column, label_column)
    if suffix == ".jsonl":
        return _load_jsonl(path, text_column, label_column)
    raise ValueError(
        f"cannot load {path}: unsupported extension {path.suffix!r}; use one of {list(LOCAL_SUFFIXES)} "
        "or a folder of .txt files"
    )


def load_hf_dataset(
    name_or_path: str,
    split: str = "train",
    text_column: str = "text",
    label_column: str | None = "label",
    **load_kwargs: Any,
) -> list[Document]:
    """Load a Hugging Face ``datasets`` corpus as `Document` records.

    A thin wrapper around ``datasets.load_dataset(name_or_path, split=split,
    **load_kwargs)``: a hub name (e.g. ``"ag_news"``, needs internet) or a local
    builder such as ``load_hf_dataset("json", data_files="my.jsonl")``.
    `ClassLabel` integers become their names (``-1``, "no label", becomes None).
    Empty texts are skipped with a warning, as in `load_local`.

    Args:
        name_or_path: dataset name on the hub, a local folder, or a builder
            (``"json"``, ``"csv"``, ``"text"``, ``"parquet"``).
        split: which split to load, e.g. ``"train"`` or ``"test[:500]"``.
        text_column: the column holding the text.
        label_column: the column holding the label; None for unlabelled data
            (a missing default ``"label"`` column also means unlabelled).
        **load_kwargs: passed to `datasets.load_dataset` (``data_files``,
            ``cache_dir``, ``revision``, ...).

    Returns:
        Documents with ids ``"<split>/<row index>"``.

    Raises:
        ModuleNotFoundError: if the ``datasets`` package is not installed.
        ValueError: for a missing column or no non-empty document.
    """
    try:
        import datasets
    except ImportError as err:
        raise ModuleNotFoundError(
            "load_hf_dataset needs the `datasets` package, which is not installed; "
            "install it with `pip install -e .[datasets]` (or `pip install datasets`)",
            name="datasets",
        ) from err
    if not isinstance(split, str) or not split:
        raise ValueError(f"split={split!r} is not allowed; name one split, e.g. 'train'")
    dataset = datasets.load_dataset(name_or_path, split=split, **load_kwargs)
    features = getattr(dataset, "features", None) or {}
    columns = list(features) if features else list(getattr(dataset, "column_names", None) or [])
    if not columns:  # a streaming dataset may not know its columns before the first row
        first = next(iter(dataset), None)
        columns = list(first) if isinstance(first, dict) else []
    source = f"dataset {name_or_path!r} (split {split!r})"
    label_column = _check_columns(columns, text_column, label_column, source)

    label_names = None
    if label_column is not None and isinstance(features.get(label_column), datasets.ClassLabel):
        label_names = features[label_column].names

    def records() -> Iterable[tuple[str, Any, Any]]:
        for i, row in enumerate(dataset):
            label = row.get(label_column) if label_column else None
            if label_names is not None and label is not None:
                label = label_names[label] if 0 <= label < len(label_names) else None
            yield f"{split}/{i}", row.get(text_column), label

    return _records_to_documents(records(), source=source, text_column=text_column)
