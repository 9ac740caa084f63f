"""The checker behind every exercise: ``check("05.name", answer)``.

``check`` calls the learner's function on each of the exercise's inputs and compares every result
with the reference's, then prints one verdict: all passed; the first input whose result differs,
expected against got; an exception or a result of the wrong type, named; a loop stopped by the time
limit; or "not implemented yet" for a stub. A hint is shown from the second failed attempt at the
same exercise in the same kernel, or at any time with ``hint("05.name")``; the reference code never.

Each call gets fresh deep copies of the inputs (tensors, lists, modules), so one attempt cannot
change the next. The time limit uses ``SIGALRM`` when the check runs in the main thread (Jupyter
runs cells there, on Linux, macOS and Colab): the alarm interrupts a Python loop wherever it is.
Elsewhere (another thread, or Windows) a watchdog thread runs the answer and, when time is up,
raises the same exception inside it. A loop stuck inside one long C call (a huge matrix product)
is only stopped when that call returns.

Lesson modules register their exercises with :func:`register`; inputs come from fixed seeds and are
printed rounded, so a notebook's output is the same on every run.
"""

from __future__ import annotations

import copy
import ctypes
import math
import signal
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "EXERCISES", "Case", "Exercise", "TimeLimitExceeded", "Verdict", "check", "evaluate", "hint",
    "randn", "register",
]  # fmt: skip

#: Tolerances for comparing floats (as ``torch.testing.assert_close`` for float32).
RTOL, ATOL = 1.3e-6, 1e-5


@dataclass(frozen=True)
class Case:
    """One input to an exercise: a label for the verdict and the positional arguments."""

    label: str
    args: tuple


@dataclass(frozen=True)
class Exercise:
    """An exercise: its reference, its inputs, the hint, and how results are compared.

    ``compare(expected, got)``, when given, replaces the default comparison (after the type check):
    it returns why ``got`` is wrong, or None. ``time_limit`` is in seconds per call of the answer.
    """

    name: str
    reference: Callable[..., Any]
    cases: Sequence[Case]
    hint: str
    time_limit: float = 2.0
    rtol: float = RTOL
    atol: float = ATOL
    compare: Callable[[Any, Any], str | None] | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``status`` is passed, failed, error, timed_out or not_implemented."""

    name: str
    status: str
    passed: int
    total: int
    message: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


#: Every registered exercise, by name ("05.scaled_scores").
EXERCISES: dict[str, Exercise] = {}

_failed_attempts: Counter[str] = Counter()  # exercise name -> failed checks in this kernel


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to :data:`EXERCISES` (names are unique)."""
    if exercise.name in EXERCISES:
        raise ValueError(f"an exercise called {exercise.name!r} is already registered")
    if len(exercise.cases) < 1:
        raise ValueError(f"exercise {exercise.name!r} has no cases")
    EXERCISES[exercise.name] = exercise
    return exercise


def randn(*shape: int, seed: int) -> torch.Tensor:
    """A float32 CPU tensor of standard normal numbers from its own seeded generator."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------
# Showing values and types: rounded, no memory addresses, short
# ---------------------------------------------------------------------------


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def _type_name(x: Any) -> str:
    """``int``, ``list``, ``torch.Tensor``, ``numpy.ndarray``, ``numpy.int64``..."""
    if isinstance(x, torch.Tensor):
        return "torch.Tensor"
    kind = type(x)
    package = kind.__module__.split(".")[0]
    return kind.__name__ if package == "builtins" else f"{package}.{kind.__name__}"


def _show(x: Any, limit: int = 300) -> str:
    """A stable, short text for ``x`` (tensors and arrays as shape, dtype and rounded values)."""
    if isinstance(x, torch.Tensor) or _type_name(x) == "numpy.ndarray":
        values = _round(x.detach().cpu().tolist() if isinstance(x, torch.Tensor) else x.tolist())
        kind = "tensor" if isinstance(x, torch.Tensor) else "numpy array"
        dtype = str(x.dtype).removeprefix("torch.")
        text = f"{kind} of shape {tuple(x.shape)}, {dtype}: {values}"
    elif isinstance(x, float) and 0 < abs(x) < 1e-3:
        text = repr(float(f"{x:.4g}"))  # eps = 1e-05, not 0.0
    elif isinstance(x, tuple):
        text = "(" + ", ".join(_show(v, limit) for v in x) + ("," if len(x) == 1 else "") + ")"
    elif isinstance(x, (dict, list, str, int, float, bool)) or x is None:
        text = repr(_round(x))
    else:
        text = f"a {_type_name(x)} object"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _wrong_type(expected: Any, got: Any) -> str | None:
    """Why ``got`` is not of the type of ``expected``, naming both (None when it is)."""
    want = _type_name(expected)
    if isinstance(expected, bool) or isinstance(got, bool):
        fine = type(got) is type(expected)
    elif isinstance(expected, float):
        fine = isinstance(got, (int, float))  # an int is a fine float; numpy.float64 is a float
    elif isinstance(expected, int):
        fine = isinstance(got, int)
    elif isinstance(expected, torch.Tensor):
        fine = isinstance(got, torch.Tensor)
    else:
        fine = type(got) is type(expected)
    if fine:
        return None
    why = f"expected {_article(want)}, got {_article(_type_name(got))}"
    if isinstance(got, torch.Tensor) and got.dim() == 0 and not isinstance(expected, torch.Tensor):
        why += f" (.item() turns a one-number tensor into {_article(want)})"
    return why


# ---------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------


def _difference(expected: Any, got: Any, rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """Why ``got`` is not ``expected`` (None when they agree); types are checked first."""
    wrong = _wrong_type(expected, got)
    if wrong:
        return f"wrong type: {wrong}"
    if isinstance(expected, torch.Tensor):
        return _tensor_difference(expected, got, rtol, atol)
    if isinstance(expected, (list, tuple)):
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            why = _difference(e, g, rtol, atol)
            if why:
                return f"item {i}: {why}"
        return None
    if isinstance(expected, dict):
        if set(got) != set(expected):
            missing, extra = set(expected) - set(got), set(got) - set(expected)
            return (f"the keys differ (missing: {_show(sorted(missing, key=repr))}, "
                    f"unexpected: {_show(sorted(extra, key=repr))})")  # fmt: skip
        for key in expected:
            why = _difference(expected[key], got[key], rtol, atol)
            if why:
                return f"at key {key!r}: {why}"
        return None
    if isinstance(expected, float):
        return None if math.isclose(got, expected, rel_tol=rtol, abs_tol=1e-9) else "values differ"
    return None if got == expected else "values differ"


def _tensor_difference(expected: torch.Tensor, got: torch.Tensor, rtol: float, atol: float):
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
    if expected.dtype == torch.bool or not expected.is_floating_point():
        if got.dtype != expected.dtype:
            return f"expected dtype {expected.dtype}, got {got.dtype}"
        return None if torch.equal(got.detach().cpu(), expected) else "values differ"
    if not got.is_floating_point():
        return f"expected a floating-point tensor, got dtype {got.dtype}"
    got = got.detach().cpu().to(expected.dtype)
    return None if torch.allclose(got, expected, rtol, atol, equal_nan=True) else "values differ"


# ---------------------------------------------------------------------------
# Calling the learner's function with a time limit
# ---------------------------------------------------------------------------


class TimeLimitExceeded(BaseException):
    """Raised inside an answer whose time is up (a BaseException: ``except Exception`` in the
    answer cannot swallow it)."""


def _call_with_time_limit(fn: Callable[..., Any], args: tuple, seconds: float) -> Any:
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return _call_with_alarm(fn, args, seconds)
    return _call_with_watchdog(fn, args, seconds)


def _call_with_alarm(fn: Callable[..., Any], args: tuple, seconds: float) -> Any:
    def on_alarm(signum, frame):
        raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _call_with_watchdog(fn: Callable[..., Any], args: tuple, seconds: float) -> Any:
    """Run ``fn`` in a daemon thread; when time is up, raise TimeLimitExceeded inside it."""
    outcome: dict[str, Any] = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as e:  # handed to the caller below
            outcome["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        exc = ctypes.py_object(TimeLimitExceeded)
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), exc)
        raise TimeLimitExceeded
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---------------------------------------------------------------------------
# Running a check
# ---------------------------------------------------------------------------


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"no exercise called {name!r}; the exercises are: {known}")
    return EXERCISES[name]


def evaluate(name: str, learner: Callable[..., Any], attempt: int = 1) -> Verdict:
    """Run exercise ``name`` on ``learner`` and return the verdict (nothing printed).

    ``attempt`` is how many times this answer's check has failed before, plus one: from the
    second attempt on, a failure's message ends with the hint.
    """
    ex = _exercise(name)
    total = len(ex.cases)
    if not callable(learner):
        return Verdict(
            name, "error", 0, total,
            f"{name}: expected a function, got {_show(learner)}. Pass the function itself "
            f"(check({name!r}, my_function)), without calling it.",
        )  # fmt: skip
    for passed, case in enumerate(ex.cases):
        expected = ex.reference(*copy.deepcopy(case.args))
        status, why, got = _run_case(ex, learner, case)
        if status == "not_implemented" or (status == "ok" and passed == 0 and _is_stub(got)):
            return _not_implemented(name, total)
        if status == "ok":
            wrong = _wrong_type(expected, got)
            if wrong:
                why = f"wrong type: {wrong}"
            elif ex.compare is not None:  # the exercise's own comparison replaces the default
                why = ex.compare(expected, got)
            else:
                why = _difference(expected, got, ex.rtol, ex.atol)
            if why is None:
                continue
            status, why = "failed", f": {why}."
        lines = [f"{name}: {passed} of {total} checks passed.",
                 f"✗ check {passed + 1} ({case.label}){why}",
                 f"  input:    {', '.join(_show(a) for a in case.args)}"]  # fmt: skip
        if status == "failed":
            lines += [f"  expected: {_show(expected)}", f"  got:      {_show(got)}"]
        stuck = f'  Stuck? hint("{name}") shows a hint.'
        lines.append(f"  Hint: {ex.hint}" if attempt >= 2 else stuck)
        return Verdict(name, status, passed, total, "\n".join(lines))
    labels = "; ".join(c.label for c in ex.cases)
    return Verdict(name, "passed", total, total, f"{name}: all {total} checks passed ✓ ({labels})")


def _run_case(ex: Exercise, learner: Callable[..., Any], case: Case) -> tuple[str, str, Any]:
    """(status, why, result) of one call of the answer on fresh copies of the case's inputs."""
    try:
        return "ok", "", _call_with_time_limit(learner, copy.deepcopy(case.args), ex.time_limit)
    except NotImplementedError:
        return "not_implemented", "", None
    except TimeLimitExceeded:
        why = (f" did not finish within {ex.time_limit:g} s, so the check stopped it. Is there a "
               "loop whose condition never changes?")  # fmt: skip
        return "timed_out", why, None
    except Exception as e:  # the learner's code: report, never crash the notebook
        return "error", f" raised {type(e).__name__}: {e}", None


def _is_stub(result: Any) -> bool:
    return result is None or result is Ellipsis


def _not_implemented(name: str, total: int) -> Verdict:
    message = (
        f"{name}: not implemented yet. Replace `raise NotImplementedError` with your code "
        f"and run the cell again ({total} checks are waiting)."
    )
    return Verdict(name, "not_implemented", 0, total, message)


def check(name: str, learner: Callable[..., Any]) -> None:
    """Check the learner's answer to exercise ``name`` and print a friendly verdict.

    The first failed attempt shows the differing input; from the second on, the hint too.
    """
    verdict = evaluate(name, learner, attempt=_failed_attempts[name] + 1)
    if verdict.status in ("failed", "error", "timed_out"):
        _failed_attempts[name] += 1
    print(verdict.message)


def hint(name: str) -> None:
    """Print the hint of exercise ``name`` (an idea in words, never the answer's code)."""
    print(f"{name} hint: {_exercise(name).hint}")
