"""Saving and loading training checkpoints safely.

A checkpoint is one ``torch.save`` file holding a plain dict. By convention its keys are:

============== ==================================================================
``model``       ``model.state_dict()``
``config``      the model's configuration as a plain dict
                (``dataclasses.asdict(config)``), checked by `load_checkpoint`
``step``        int, number of optimisation steps taken
``optimizer``   ``optimizer.state_dict()``
``scheduler``   ``scheduler.state_dict()``
``rng``         random-number state, from `rng_state` (restore with `restore_rng_state`)
``tokenizer``   str, a reference to the tokenizer (a path or a Hub name), not the object
``history``     plain dict of lists, e.g. ``{"step": [...], "loss": [...]}``
``extra``       free-form, anything else the notebook wants back
============== ==================================================================

Only ``model`` is needed by most readers; every key is optional. `save_checkpoint`
adds three keys of its own: ``format`` (currently 2), ``library_version`` and ``sha256``.

Three guarantees:

* **Atomic saves.** The file is written to a temporary file in the same directory,
  flushed to disk, then renamed over the target with `os.replace`, which is atomic on
  POSIX and Windows. A crash (or Ctrl-C) during a save leaves the previous checkpoint
  intact. A temporary file can only survive a process that is killed outright
  (``kill -9``, a power cut); its name carries the writer's process id, and the next save
  of the same target deletes those whose writer is gone.
* **Integrity.** ``sha256`` is a digest of everything else in the file (every tensor's
  dtype, shape and bytes, every other value's repr); `load_checkpoint` recomputes it and
  refuses a file whose contents changed since it was written (a flipped bit in the weights
  otherwise loads silently). Files of format 1 (no digest) still load.
* **Safe loads.** `load_checkpoint` uses ``torch.load(..., weights_only=True)``, which
  refuses to run arbitrary pickled code. It can read tensors, numbers, strings,
  ``None``, ``torch.Size``/``dtype``/``device`` and lists, tuples, sets and dicts of
  these — so `save_checkpoint` rejects anything else (numpy arrays, dataclasses,
  lambdas) up front with a message saying where it is and how to convert it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch

CHECKPOINT_FORMAT = 2  # bump when the layout changes incompatibly (2: adds the sha256 digest)

class _Missing:
    """Marks a config field that one side does not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()
_LEAF_TYPES = (type(None), bool, int, float, complex, str, bytes, torch.Size, torch.dtype, torch.device)
_CONTAINER_TYPES = (list, tuple, set, dict, collections.OrderedDict)


class CheckpointMismatchError(ValueError):
    """The checkpoint's stored ``config`` differs from the one expected.

    Attributes:
        differences: ``{field: (checkpoint_value, expected_value)}``; a field absent
            on one side shows as `MISSING` (printed ``<missing>``).
    """

    def __init__(self, differences: dict[str, tuple[Any, Any]], path: Path | str = "checkpoint") -> None:
        self.differences = differences
        lines = [f"  {name}: checkpoint={ckpt!r}, model={model!r}" for name, (ckpt, model) in differences.items()]
        super().__init__(
            f"{path} was saved with a different config ({len(differences)} field(s) differ):\n"
            + "\n".join(lines)
            + "\nBuild the model from checkpoint['config'], or delete the checkpoint to retrain."
        )


class NotACheckpointError(ValueError):
    """The file exists but is not a metalearn-edu checkpoint."""


class CorruptCheckpointError(NotACheckpointError):
    """The file's contents no longer match the digest stored when it was saved."""


def payload_digest(state: Any) -> str:
    """SHA-256 of a checkpoint's contents: every tensor's dtype, shape and bytes, every other value's repr.

    Dict order is part of the digest (it survives `torch.save` / `torch.load`); set members are sorted.
    """
    h = hashlib.sha256()
    _feed(h, state)
    return h.hexdigest()


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        h.update(b"[" if isinstance(obj, list) else b"(")
        for value in obj:
            _feed(h, value)
        h.update(b"]")
    elif isinstance(obj, set):
        h.update(repr(sorted(repr(v) for v in obj)).encode())
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def library_version() -> str:
    """The installed metalearn-edu version, or ``"unknown"``."""
    try:
        import metalearn_edu

        version = getattr(metalearn_edu, "__version__", None)
        if version:
            return str(version)
    except ImportError:  # pragma: no cover - we are inside the package
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        return dist_version("metalearn-edu")
    except (ImportError, PackageNotFoundError):
        return "unknown"


def check_weights_only_loadable(obj: Any, where: str = "state") -> None:
    """Raise TypeError if ``torch.load(weights_only=True)`` could not read ``obj`` back.

    Args:
        obj: the object to check, usually the whole checkpoint dict.
        where: how to name ``obj`` in the error message.

    Raises:
        TypeError: naming the offending entry, e.g. ``state['history']['acc']``.
    """
    if isinstance(obj, torch.Tensor) or type(obj) in _LEAF_TYPES:
        return
    if type(obj) in (dict, collections.OrderedDict):
        for key, value in obj.items():
            check_weights_only_loadable(key, f"{where} key {key!r}")
            check_weights_only_loadable(value, f"{where}[{key!r}]")
        return
    if type(obj) in _CONTAINER_TYPES:
        for i, value in enumerate(obj):
            check_weights_only_loadable(value, f"{where}[{i}]")
        return
    hint = "convert it to a tensor, a number, a string or a list/dict of those"
    if dataclasses.is_dataclass(obj):
        hint = "store dataclasses.asdict(...) instead"
    elif type(obj).__module__.startswith("numpy"):
        hint = "convert it with torch.as_tensor(...) or .tolist()"
    raise TypeError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, which torch.load(weights_only=True) "
        f"cannot read back; {hint}"
    )


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (see the module docstring for the keys).

    Args:
        path: target file, conventionally ``*.pt``; missing parent folders are created.
        state: the checkpoint dict; it is not modified.

    Returns:
        The path written, as a `Path`.

    Raises:
        TypeError: if some entry could not be loaded back with ``weights_only=True``.

    Example:
        >>> import tempfile, torch
        >>> model = torch.nn.Linear(2, 1)
        >>> target = Path(tempfile.mkdtemp()) / "ckpt.pt"
        >>> _ = save_checkpoint(target, {"model": model.state_dict(), "config": {"d": 2}, "step": 0})
        >>> load_checkpoint(target, expected_config={"d": 2})["step"]
        0
    """
    path = Path(path)
    payload = {**state, "library_version": library_version(), "format": CHECKPOINT_FORMAT}
    check_weights_only_loadable(payload)
    payload["sha256"] = payload_digest(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    mode = _file_mode(path)
    tmp = tempfile.NamedTemporaryFile(delete=False, dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                      suffix=".tmp")
    try:
        with tmp:
            torch.save(payload, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)  # temp files are created private (0o600)
        os.replace(tmp.name, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temp file behind
        Path(tmp.name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def save_json(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON to `path` atomically (a temporary file beside it, then a rename).

    What the studies in ``benchmarks/`` use after every finished run, so a study stopped mid-write
    never leaves a truncated results file. Missing parent folders are created.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "study.json"
        >>> save_json(target, {"runs": {}}).read_text()
        '{\\n "runs": {}\\n}\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of earlier saves of `path` whose writing process no longer exists.

    Temporaries are named ``.<name>.<pid>.<random>.tmp``; one whose process is alive (a save in
    progress) is left alone. Returns the files deleted.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and _process_exists(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. no permission to signal it: it exists
        return True
    return True


def _file_mode(path: Path) -> int:
    """Permissions for the new file: the old file's, else what ``open()`` would give."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(
    path: str | os.PathLike,
    expected_config: Mapping[str, Any] | Any | None = None,
    map_location: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Args:
        path: the checkpoint file.
        expected_config: if given (a dict or a dataclass), the stored ``config``
            must equal it field by field.
        map_location: where to put the tensors (``"cpu"`` by default, so a GPU
            checkpoint loads anywhere); passed to `torch.load`.

    Returns:
        The checkpoint dict, including ``format`` and ``library_version`` (the digest is checked and dropped).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        NotACheckpointError: if the file is not a metalearn-edu checkpoint.
        CorruptCheckpointError: if its contents changed since it was saved.
        CheckpointMismatchError: if the stored config differs from ``expected_config``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(_missing_message(path))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        raise NotACheckpointError(
            f"{path} could not be read as a metalearn-edu checkpoint ({type(error).__name__}: {error}). "
            "Was it written by save_checkpoint? Delete it and save again."
        ) from error
    if not isinstance(state, dict) or "format" not in state:
        raise NotACheckpointError(
            f"{path} is a torch file but not a metalearn-edu checkpoint (it has no 'format' key); "
            "write checkpoints with metalearn_edu.checkpoint.save_checkpoint"
        )
    if state["format"] > CHECKPOINT_FORMAT:
        raise NotACheckpointError(
            f"{path} has format {state['format']} but this library reads formats up to {CHECKPOINT_FORMAT}; "
            f"it was written by metalearn-edu {state.get('library_version', 'unknown')}, so upgrade the library"
        )
    if state["format"] >= 2:
        stored = state.pop("sha256", None)
        if stored is None or payload_digest(state) != stored:
            raise CorruptCheckpointError(
                f"{path} is corrupted: its contents do not match the SHA-256 digest stored when it was saved "
                "(a changed byte in the weights, or a truncated copy); restore it from a copy or delete it and "
                "train again"
            )
    if expected_config is not None:
        differences = config_differences(state.get("config"), expected_config)
        if differences:
            raise CheckpointMismatchError(differences, path)
    return state


def _missing_message(path: Path) -> str:
    message = f"no checkpoint at {path}"
    if path.parent.is_dir():
        nearby = sorted(p.name for p in path.parent.glob("*.pt"))
        if nearby:
            message += f"; checkpoints in {path.parent}: {', '.join(nearby[:10])}"
    else:
        message += f" (the folder {path.parent} does not exist)"
    return message + ". Check the path, or train first and call save_checkpoint."


def config_differences(stored: Any, expected: Any) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ between two configs.

    Args:
        stored: the config in the checkpoint (a dict, or None when absent).
        expected: the config the caller expects (a dict or a dataclass).

    Returns:
        ``{field: (stored_value, expected_value)}`` in sorted field order; empty when equal.
        A field missing on one side is reported as `MISSING`.
    """
    stored, expected = _as_dict(stored), _as_dict(expected)
    differences = {}
    for name in sorted(set(stored) | set(expected), key=str):
        ckpt, model = stored.get(name, MISSING), expected.get(name, MISSING)
        if type(ckpt) is not type(model) and isinstance(ckpt, (list, tuple)) and isinstance(model, (list, tuple)):
            ckpt, model = list(ckpt), list(model)  # a tuple and a list with the same items are the same config
        if ckpt != model:
            differences[str(name)] = (stored.get(name, MISSING), expected.get(name, MISSING))
    return differences


def _as_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"a config must be a dict or a dataclass instance, got {type(config).__name__}")


def rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Capture random-number state for the checkpoint's ``rng`` entry.

    Args:
        generators: named generators to capture, e.g. ``{"masking": g, "episodes": g2}``.

    Returns:
        ``{"torch": ByteTensor, "cuda": [ByteTensor per device] (only when CUDA is
        available), "generators": {name: ByteTensor}}`` — all loadable with
        ``weights_only=True``.
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    state["generators"] = {name: g.get_state() for name, g in (generators or {}).items()}
    return state


def restore_rng_state(state: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Restore what `rng_state` captured.

    Torch's global CPU RNG is always restored, CUDA's when both the state and CUDA
    are present, and each generator in ``generators`` from the state of that name.

    Args:
        state: the dict returned by `rng_state` (e.g. ``checkpoint["rng"]``).
        generators: the generators to restore, by the names used when saving.

    Raises:
        KeyError: if a generator's name is not in the saved state.
    """
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state:
        if torch.cuda.is_available():
            saved = list(state["cuda"])
            if len(saved) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all([s.cpu() for s in saved])
            else:
                warnings.warn(
                    f"the checkpoint has CUDA RNG state for {len(saved)} device(s) but {torch.cuda.device_count()} "
                    "are visible; CUDA RNG state not restored",
                    stacklevel=2,
                )
        else:
            warnings.warn("the checkpoint has CUDA RNG state but CUDA is not available; skipped", stacklevel=2)
    saved_generators = state.get("generators", {})
    for name, generator in (generators or {}).items():
        if name not in saved_generators:
            raise KeyError(f"no saved state for generator {name!r}; the checkpoint has {sorted(saved_generators)}")
        generator.set_state(saved_generators[name].cpu())
