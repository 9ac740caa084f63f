"""Self-checking exercises: ``check("05.name", my_function)`` and ``hint("05.name")``.

The checker is in :mod:`.checker`; each lesson's exercises (reference, inputs, hint) are in a
module of their own, ``lesson01`` ... ``lesson13``, registered on import.
"""

from llm101_helpers.exercises import (  # noqa: F401  (registers every lesson's exercises)
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
    lesson10,
    lesson11,
    lesson12,
    lesson13,
)
from llm101_helpers.exercises.checker import (
    EXERCISES,
    Case,
    Exercise,
    Verdict,
    check,
    evaluate,
    hint,
)

__all__ = ["EXERCISES", "Case", "Exercise", "Verdict", "check", "evaluate", "hint"]
