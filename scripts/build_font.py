"""Build data/fonts/: a subset of Noto Sans CJK SC, so figures can label Chinese tokens.

    python scripts/build_font.py                 # fetch, verify, subset, write data/fonts/
    python scripts/build_font.py --wheel PATH    # use a wheel already downloaded

Matplotlib's own fonts have no Chinese characters, so chapter 8's attention pictures would show
empty boxes. Noto Sans CJK SC (SIL Open Font License 1.1) travels inside the `mplfonts` wheel on
PyPI; this script fetches that wheel by name and pinned version with pip (no dependencies, nothing
installed), checks its SHA-256, takes the one font file out, keeps only the glyphs the course can
need — every single-character token of the Chinese tokenizer (data/tokenizer-zh), ASCII and
common CJK punctuation — and renames the family (the OFL does not let a modified font keep the
original's reserved names). The result is a few MB instead of 16. `metalearn_edu.viz.style`
registers it with matplotlib as a fallback after DejaVu Sans.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "fonts"
WHEEL = "mplfonts==0.0.11"
WHEEL_FILE = "mplfonts-0.0.11-py3-none-any.whl"
WHEEL_SHA256 = "b5e05ba7fd9a59cae48d1db41f657f50e6765e6f04b8d78504438b93a66b6e13"
MEMBER = "mplfonts/fonts/NotoSansCJKsc-Regular.otf"
FAMILY = "metalearn-edu CJK"
FONT_FILE = "metalearn-edu-cjk.otf"
PUNCTUATION = "，。、；：？！“”‘’（）《》【】—…·「」『』〈〉％＋－＝／"


def fetch_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(folder),
                    WHEEL], check=True)
    return folder / WHEEL_FILE


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wanted_characters() -> str:
    vocab = json.loads((ROOT / "data" / "tokenizer-zh" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    chars = {t for t in vocab if len(t) == 1}
    chars |= {chr(c) for c in range(0x20, 0x7F)} | set(PUNCTUATION)
    return "".join(sorted(chars))


def subset(source: Path, target: Path, text: str) -> None:
    from fontTools import subset as ft_subset
    from fontTools.ttLib import TTFont

    options = ft_subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = TTFont(str(source), recalcTimestamp=False)  # keep the original dates: a byte-identical rebuild
    subsetter = ft_subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    names = font["name"]
    original = names.getDebugName(4)
    for record in names.names:
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID in (4, 18):
            record.string = f"{FAMILY} Regular"
        elif record.nameID == 6:
            record.string = "metalearn-edu-CJK-Regular"
        elif record.nameID == 3:
            record.string = f"{FAMILY} (subset of {original}); metalearn-edu build_font.py"
    font.save(str(target))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wheel", type=Path, default=None, help="a downloaded copy of " + WHEEL_FILE)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        got = sha256(wheel)
        if got != WHEEL_SHA256:
            raise SystemExit(f"{wheel} has SHA-256 {got}, expected {WHEEL_SHA256}: not the pinned {WHEEL}")
        source = Path(tmp) / "source.otf"
        with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as member, source.open("wb") as f:
            shutil.copyfileobj(member, f)
        OUT.mkdir(parents=True, exist_ok=True)
        text = wanted_characters()
        subset(source, OUT / FONT_FILE, text)
    print(f"wrote {OUT / FONT_FILE}: {len(text):,} characters, {(OUT / FONT_FILE).stat().st_size / 1e6:.2f} MB; "
          f"sha256 {sha256(OUT / FONT_FILE)}")


if __name__ == "__main__":
    main()
