"""Checked exercises for the notebooks: one module per notebook (`nasbench.exercises.tour`, ...).

The pattern: a notebook cell asks the student to write a function and leaves a stub that raises
`NotImplementedError`; the next cell calls `attempt(student_fn, reference_fn, check)`, which

- runs `check(student_fn)` (an independent check: brute force, a hand-worked case, ...) and
  prints whether it passed;
- when the stub is still unwritten, or the function is wrong, raises, or returns something the
  check cannot use (None, a wrong shape), says so in one short line (never a traceback) and
  hands back the library's reference so the rest of the notebook still runs top to bottom;
- returns the function the rest of the notebook should use.
"""
from __future__ import annotations

import functools
import traceback
from typing import Callable


class StudentError(Exception):
    """The student's function raised; the message names the exception and the line."""


def _short(e: BaseException, limit: int = 160) -> str:
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _guarded(student: Callable) -> Callable:
    """`student`, with any exception it raises (other than NotImplementedError) turned into a
    StudentError that says where in the student's own code it happened."""
    code = getattr(student, "__code__", None)

    @functools.wraps(student)
    def call(*args, **kwargs):
        try:
            return student(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as e:
            lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                     if code is not None and f.filename == code.co_filename]
            where = f" (line {lines[-1] - code.co_firstlineno + 1} of your function)" if lines else ""
            raise StudentError(f"your function raised {_short(e)}{where}") from None
    return call


def attempt(student: Callable, reference: Callable, check: Callable[[Callable], None],
            name: str | None = None) -> Callable:
    """Check `student` with `check`; fall back to `reference` while it is unwritten or wrong."""
    name = name or getattr(student, "__name__", "your function")
    fallback = "using the library's version for now."
    try:
        check(_guarded(student))
    except NotImplementedError:
        print(f"{name}: not written yet; {fallback}")
        check(reference)  # the reference must pass its own check
        return reference
    except AssertionError as e:
        print(f"{name}: not quite: {e}; {fallback}")
        return reference
    except StudentError as e:
        print(f"{name}: {e}; {fallback}")
        return reference
    except Exception as e:  # the function returned something the check cannot use
        print(f"{name}: the check could not use what your function returned ({_short(e)}); "
              f"{fallback}")
        return reference
    print(f"{name}: correct!")
    return student
