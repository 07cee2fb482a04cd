"""Checked exercises for the notebooks: one module per notebook (`nasbench.exercises.tour`, ...).

The pattern: a notebook cell asks the student to write a function and leaves a stub that raises
`NotImplementedError`; the next cell calls `attempt(student_fn, reference_fn, check)`, which

- runs `check(student_fn)` (an independent check: brute force, a hand-worked case, ...) and
  prints whether it passed;
- when the stub is still unwritten, says so and hands back the library's reference so the rest
  of the notebook still runs top to bottom (in smoke mode and for people alike);
- returns the function the rest of the notebook should use.
"""
from __future__ import annotations

from typing import Callable


def attempt(student: Callable, reference: Callable, check: Callable[[Callable], None],
            name: str | None = None) -> Callable:
    """Check `student` with `check`; fall back to `reference` while it is unwritten."""
    name = name or getattr(student, "__name__", "your function")
    try:
        check(student)
    except NotImplementedError:
        print(f"{name}: not written yet; using the library's version for now.")
        check(reference)  # the reference must pass its own check
        return reference
    except AssertionError as e:
        print(f"{name}: not quite: {e}")
        return reference
    print(f"{name}: correct!")
    return student
