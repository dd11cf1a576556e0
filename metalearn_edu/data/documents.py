"""Documents, and where the course's data lives.

Every corpus (BBC News, the shipped non-news and Chinese suites, a local file, a Hugging Face
``datasets`` corpus) becomes the same `Document` records, so the rest of the library never cares
where text came from. `read_text_file` decodes a text file whatever its encoding (and refuses a
binary one); `DATA_DIR` is the repository's ``data/`` folder, or ``$METALEARN_DATA_DIR``.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

DATA_ENV_VAR = "METALEARN_DATA_DIR"

# The repository's top-level ``data/`` folder, unless ``$METALEARN_DATA_DIR`` says otherwise.
DATA_DIR: Path = (
    Path(os.environ[DATA_ENV_VAR]).expanduser()
    if os.environ.get(DATA_ENV_VAR)
    else Path(__file__).resolve().parents[2] / "data"
)


@dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes:
        doc_id: unique id inside its corpus, e.g. ``"business/001"``.
        text: the whole text; paragraphs are separated by a blank line (``"\\n\\n"``).
        label: the class (topic) name, or None for unlabelled text.
        title: the headline, when the source has one (it is also the first
            paragraph of `text`).
    """

    doc_id: str
    text: str
    label: str | None = None
    title: str | None = None


def normalize_whitespace(text: str) -> str:
    """Tidy whitespace but keep the paragraph structure.

    Line endings become ``"\\n"``; runs of spaces/tabs become one space; every line
    is stripped; two or more consecutive line breaks become exactly one blank line
    (a paragraph break); single line breaks (e.g. bullet lists) are kept.

    Example:
        >>> normalize_whitespace("  A  title\\r\\n\\r\\n\\n First\\tline \\n - item ")
        'A title\\n\\nFirst line\\n- item'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
MAX_CONTROL_SHARE = 0.01  # more control characters than this (tab, newlines and form feed aside): not text


def read_text_file(path: str | Path, warn: bool = True) -> str:
    """A text file's content, decoded with the encoding it was written in.

    1) A byte-order mark decides (UTF-8, UTF-16 or UTF-32); 2) UTF-16 without a BOM is recognised by
    its zero bytes in every other position; 3) otherwise UTF-8; 4) a file that is not UTF-8 is read as
    Windows-1252 (which covers Latin-1's printable characters and adds “curly quotes” and dashes),
    or as Latin-1 when it has a byte cp1252 leaves undefined. Anything else is refused: zero bytes
    or more than 1% control characters mean the file is not text.

    Args:
        path: the file.
        warn: warn (naming the encoding used) when the file was not UTF-8.

    Raises:
        ValueError: if the file looks binary; the message names it.
    """
    path = Path(path)
    data = path.read_bytes()
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and len(data) >= 4 and len(data) % 2 == 0:
        half = len(data) // 2
        zeros_odd, zeros_even = data[1::2].count(0) / half, data[0::2].count(0) / half
        if max(zeros_odd, zeros_even) >= 0.4 and min(zeros_odd, zeros_even) < 0.05:  # ASCII-heavy UTF-16
            encoding = "utf-16-le" if zeros_odd > zeros_even else "utf-16-be"
    fallback = False
    if encoding is None:
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            fallback = True
    if encoding is not None and encoding != "utf-8":
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise ValueError(f"{path} starts like {encoding} text but does not decode as {encoding}; "
                             "save it as UTF-8") from None
    elif fallback:
        if b"\x00" in data:
            raise ValueError(f"{path} is not a text file (it contains zero bytes); give a UTF-8 text file")
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    control = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\t\n\r\f")
    if "\x00" in text or control > MAX_CONTROL_SHARE * max(len(text), 1):
        raise ValueError(f"{path} is not a text file ({control} control characters in {len(text)}); "
                         "give a UTF-8 text file")
    if warn and fallback:
        warnings.warn(f"{path} is not valid UTF-8; read it as {encoding}", stacklevel=2)
    elif warn and encoding not in ("utf-8", "utf-8-sig"):
        how = "by its byte-order mark" if encoding in ("utf-16", "utf-32") else "by its zero bytes (no byte-order mark)"
        warnings.warn(f"{path} is not UTF-8; read it as {encoding}, recognised {how}", stacklevel=2)
    return text.removeprefix("\ufeff")
