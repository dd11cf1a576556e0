"""The README's library tour must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_tour_runs(capsys):
    text = README.read_text(encoding="utf-8")
    tour = text.split("## Library tour", 1)[1]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md (library tour)", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "1780 223 222" in printed
    assert "previous-token heads" in printed
    assert namespace["out"].attentions[0].shape[1] == namespace["model"].cfg.n_heads
