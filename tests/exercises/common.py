"""Shared assertions for the exercise tests (one test file per lesson uses them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm101_helpers.exercises import EXERCISES, evaluate


def wrong_answer_cases(wrong: dict[str, dict[str, Callable[..., Any]]]) -> list[tuple[str, str]]:
    """(exercise, mistake) pairs for ``pytest.mark.parametrize``."""
    return [(name, mistake) for name in sorted(wrong) for mistake in wrong[name]]


def assert_caught(name: str, answer: Callable[..., Any]) -> None:
    """The answer fails, at the first input that differs, shown with expected against got."""
    verdict = evaluate(name, answer)
    assert verdict.status in ("failed", "error", "timed_out"), f"passed: {verdict.message}"
    assert verdict.passed < verdict.total
    label = EXERCISES[name].cases[verdict.passed].label
    assert f"check {verdict.passed + 1} ({label})" in verdict.message, verdict.message
    assert "\n  input:    " in verdict.message
    if verdict.status == "failed":
        assert "\n  expected: " in verdict.message and "\n  got:      " in verdict.message
    # the checks before it passed: the same answer on those inputs agrees with the reference
    assert verdict.message.startswith(f"{name}: {verdict.passed} of {verdict.total} checks passed.")


def assert_passes(name: str, answer: Callable[..., Any]) -> None:
    verdict = evaluate(name, answer)
    assert verdict.ok, verdict.message
