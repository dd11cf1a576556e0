"""How the notebooks' coding exercises are checked.

A coding exercise is a function the student writes, and a ``check_...`` function that calls it on
inputs the student has not seen and compares the answer with the truth. Three outcomes:

* right: the check prints one line starting with ✓;
* not written yet (the student notebook's stub raises `NotImplementedError`), or written by
  calling the very library function the exercise asks the student to write: `ExerciseNotDone`;
* wrong: `ExerciseFailed`, whose message says what is wrong and how to look for it.

Both errors show in Jupyter as their message alone, not as a traceback through the library
(`_render_traceback_`, which IPython uses when an exception defines it).

`without(*functions)` makes calling those library functions raise while the student's function
runs, by swapping their code objects: it catches ``from metalearn_edu.meta import reptile_step``
done before the check as well as a call through the module. A check computes its expected answers
*before* entering the block, then calls the student's function inside it::

    want = reptile_step(...)                  # the truth, from the library
    with without(reptile_step):
        got = run_student(fn, ...)            # the student's version may not lean on it
"""

from __future__ import annotations

import contextlib
import types
from typing import Any, Callable, Iterator


class _Message:
    """Exceptions that Jupyter shows as their message only."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ExerciseNotDone(_Message, Exception):
    """The exercise's function is still the stub, or leans on the library function it should replace."""


class ExerciseFailed(_Message, AssertionError):
    """The exercise's function gives a wrong answer; the message says which input and why."""


def ok(message: str) -> None:
    """Print the ✓ line of a passed check."""
    print(f"✓ {message}")


def expect(condition: bool, message: str) -> None:
    """`ExerciseFailed` with `message` unless `condition` holds (an ``assert`` that survives ``python -O``)."""
    if not condition:
        raise ExerciseFailed(message)


def run_student(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; a `NotImplementedError` (the stub) becomes `ExerciseNotDone`."""
    if not callable(fn):
        raise ExerciseNotDone(f"pass your function itself (got a {type(fn).__name__}), e.g. check_x(my_function)")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        hint = f" Hint: {err}" if str(err) and str(err) != "your code here" else ""
        raise ExerciseNotDone(f"{getattr(fn, '__name__', 'your function')} is not written yet.{hint}") from None


def _refuse(*args: Any, _exercise_error: type = ExerciseNotDone, **kwargs: Any) -> Any:
    # Runs with another function's globals (its code is swapped in), so it looks nothing up by name:
    # the exception class arrives as a keyword default, set by `without`.
    raise _exercise_error("this exercise asks you to write the computation yourself; your function called the "
                          "library's own version, which is switched off during the check")


@contextlib.contextmanager
def without(*functions: Callable[..., Any]) -> Iterator[None]:
    """Inside the block, calling any of `functions` raises `ExerciseNotDone`.

    The functions' code objects are swapped for one that raises (and restored afterwards), so every
    reference to them is affected, however it was imported.
    """
    saved = []
    for fn in functions:
        fn = getattr(fn, "__wrapped__", fn)
        if not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
            raise TypeError(f"cannot switch off {fn!r}: only plain module-level functions")
        saved.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
        fn.__code__, fn.__defaults__, fn.__kwdefaults__ = _refuse.__code__, None, {"_exercise_error": ExerciseNotDone}
    try:
        yield
    finally:
        for fn, code, defaults, kwdefaults in saved:
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
