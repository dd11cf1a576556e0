"""Tests of `metalearn_edu.data.documents`: whitespace normalisation and the data folder."""

from __future__ import annotations

import subprocess
import sys

from metalearn_edu.data import normalize_whitespace


def test_normalize_whitespace() -> None:
    assert normalize_whitespace(" a \t b \r\n\r\n\r\n c\n d ") == "a b\n\nc\nd"


def test_data_dir_can_be_overridden_by_env(tmp_path) -> None:
    code = "from metalearn_edu.data import documents, tokenizer; print(documents.DATA_DIR); print(tokenizer.TOKENIZER_DIR)"
    env = {"METALEARN_DATA_DIR": str(tmp_path), "PATH": "", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(tmp_path), str(tmp_path / "tokenizer")]
