"""Shared test set-up: offline hub, deterministic torch, shared fixtures, the slow marker.

Fixtures: `gen` (a seeded generator), `course_tokenizer`, `bbc` and `mlm_micro` (loaded once per
session; do not modify them: deep-copy `mlm_micro` first), and `tiny_encoder` (a factory for the
tiny `BertEncoder` of the meta-learning tests).

Tests marked ``@pytest.mark.slow`` (more than ~5 s on the course's 2-core reference machine) are
skipped unless pytest gets ``--run-slow`` or the environment has ``METALEARN_RUN_SLOW=1``;
``bash scripts/course.sh test`` (what CI runs) passes ``--run-slow``.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import TINY_CONFIG  # noqa: E402

torch.use_deterministic_algorithms(True, warn_only=True)

RUN_SLOW_ENV_VAR = "METALEARN_RUN_SLOW"
SLOW_REASON = "slow: run with --run-slow (CI does)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help=f"also run the tests marked slow (as does {RUN_SLOW_ENV_VAR}=1); CI runs them")
    # Registered here too so that `pytest tests --run-browser` parses (tests/browser/conftest.py is
    # loaded too late for that); the browser tests read it.
    parser.addoption("--run-browser", action="store_true", default=False,
                     help="also run the real-browser test of the panels (tests/browser; minutes)")


def _run_slow(config: pytest.Config) -> bool:
    env = os.environ.get(RUN_SLOW_ENV_VAR, "").strip().lower()
    return config.getoption("--run-slow") or env not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _run_slow(config):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the Hugging Face hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded generator for tests that draw random numbers."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def course_tokenizer():
    """The course's shipped WordPiece tokenizer (`metalearn_edu.data.load_tokenizer()`)."""
    from metalearn_edu.data import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def bbc():
    """The BBC News corpus (`load_bbc()`): 2,225 documents. Shared: do not modify the list."""
    from metalearn_edu.data import load_bbc

    return load_bbc()


@pytest.fixture(scope="session")
def mlm_micro():
    """The shipped "mlm-micro" encoder in eval mode. Shared: deep-copy it before changing it."""
    from metalearn_edu.pretrained import load_pretrained

    return load_pretrained("mlm-micro", with_tokenizer=False)[0].eval()


@pytest.fixture
def tiny_encoder():
    """A factory: ``tiny_encoder(seed=0)`` is a fresh `BertEncoder` of `helpers.TINY_CONFIG`.

    The weights depend only on the seed; torch's global RNG is left as it was.
    """
    from metalearn_edu.model import BertEncoder

    def make(seed: int = 0) -> BertEncoder:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return BertEncoder(TINY_CONFIG, attention_impl="explicit")

    return make
