"""The checks of the notebooks' coding exercises, one module per chapter (see `framework`).

Each ``check_...`` function takes the student's answer, runs it on fresh inputs and either prints
a line starting with ✓ or raises `ExerciseFailed` (wrong answer: the message says what is wrong)
or `ExerciseNotDone` (still the stub, or built on the library function it should replace).
"""

from .chapter0 import *  # noqa: F401,F403
from .chapter1 import *  # noqa: F401,F403
from .chapter2 import *  # noqa: F401,F403
from .chapter3 import *  # noqa: F401,F403
from .chapter4 import *  # noqa: F401,F403
from .chapter5 import *  # noqa: F401,F403
from .chapter6 import *  # noqa: F401,F403
from .chapter7 import *  # noqa: F401,F403
from .chapter8 import *  # noqa: F401,F403
from .chapter9 import *  # noqa: F401,F403
from .framework import ExerciseFailed, ExerciseNotDone, expect, ok, run_student, without  # noqa: F401
