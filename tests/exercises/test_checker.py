"""The checker: verdicts, hints from the second attempt, time limit, input isolation, types.

Across lessons: every registered exercise passes its reference, reports a stub as "not
implemented yet", and has at least three plausible wrong answers in its lesson's test file.
"""

from __future__ import annotations

import importlib
import inspect
import signal
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from llm101_helpers.exercises import EXERCISES, Case, Exercise, check, checker, evaluate, hint

LESSONS = [f"{n:02d}" for n in range(1, 14)]


@pytest.fixture(autouse=True)
def fresh_kernel():
    """Each test starts as a fresh kernel: no failed attempts remembered."""
    checker._failed_attempts.clear()
    yield
    checker._failed_attempts.clear()


@pytest.fixture
def temporary():
    """Register throw-away exercises; removed afterwards."""
    names = []

    def add(exercise: Exercise) -> str:
        checker.register(exercise)
        names.append(exercise.name)
        return exercise.name

    yield add
    for name in names:
        del EXERCISES[name]


# --- every exercise ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes(name):
    verdict = evaluate(name, EXERCISES[name].reference)
    assert verdict.ok, verdict.message
    assert verdict.passed == verdict.total >= 3
    assert verdict.message.startswith(f"{name}: all {verdict.total} checks passed ✓ (")


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_stubs_are_not_implemented(name):
    def raises(*args):
        raise NotImplementedError

    def returns_none(*args):
        pass

    def returns_ellipsis(*args):
        return ...

    total = len(EXERCISES[name].cases)
    expected = (
        f"{name}: not implemented yet. Replace `raise NotImplementedError` with your code "
        f"and run the cell again ({total} checks are waiting)."
    )
    for stub in (raises, returns_none, returns_ellipsis):
        verdict = evaluate(name, stub)
        assert (verdict.status, verdict.message) == ("not_implemented", expected)


@pytest.mark.parametrize("lesson", LESSONS)
def test_three_exercises_per_lesson_each_with_three_wrong_answers(lesson):
    names = sorted(n for n in EXERCISES if n.startswith(f"{lesson}."))
    assert len(names) == 3, f"lesson {lesson} has {len(names)} exercises, expected 3"
    tests = importlib.import_module(f"tests.exercises.test_lesson{lesson}")
    assert set(tests.WRONG) == set(names), "the lesson's test file covers exactly its exercises"
    for name in names:
        assert len(tests.WRONG[name]) >= 3, f"{name}: at least three plausible wrong answers"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_hints_and_verdicts_never_show_the_reference(name, capsys):
    """No line of the reference's code appears in its hint or in any verdict."""
    ex = EXERCISES[name]
    source = inspect.getsource(ex.reference)
    body = [ln.split("#")[0].strip() for ln in source.splitlines()[1:]]
    code = [ln for ln in body if len(ln) >= 12 and not ln.startswith(('"""', "return ("))]
    check(name, lambda *args: 0)
    check(name, lambda *args: 0)  # the second failure shows the hint
    hint(name)
    shown = capsys.readouterr().out + ex.hint
    assert "Hint:" in shown
    for line in code:
        assert line not in shown, f"{name} shows the reference's line {line!r}"


# --- feedback ---------------------------------------------------------------------------


def test_failure_shows_the_first_differing_input_expected_and_got():
    verdict = evaluate("05.attention_multiply_adds", lambda T, a, b: 3 * T * a * b + T * T * b)
    lines = verdict.message.splitlines()
    assert lines[0] == "05.attention_multiply_adds: 0 of 5 checks passed."
    assert lines[1] == "✗ check 1 (the notebook's sentence: T=4, 3 -> 2): values differ."
    assert lines[2:5] == ["  input:    4, 3, 2", "  expected: 136", "  got:      104"]


def test_hint_only_from_the_second_failed_attempt(capsys):
    wrong = lambda gap, n: 1.0 / n  # noqa: E731
    the_hint = EXERCISES["04.max_weight"].hint
    check("04.max_weight", wrong)
    first = capsys.readouterr().out
    assert 'Stuck? hint("04.max_weight") shows a hint.' in first and the_hint not in first
    check("04.max_weight", wrong)
    second = capsys.readouterr().out
    assert f"  Hint: {the_hint}" in second and "Stuck?" not in second
    check("04.max_weight", lambda gap, n: 1 / 0)  # any failure after that keeps the hint
    assert "ZeroDivisionError" in (third := capsys.readouterr().out) and the_hint in third
    check("05.score_std", lambda *a: 0.0)  # other exercises count their own attempts
    assert "Stuck?" in capsys.readouterr().out


def test_hint_on_request(capsys):
    hint("03.analogy")
    assert capsys.readouterr().out == f"03.analogy hint: {EXERCISES['03.analogy'].hint}\n"
    with pytest.raises(KeyError, match="no exercise called '99.nothing'"):
        hint("99.nothing")


def test_a_pass_and_a_stub_do_not_count_as_failures(capsys):
    check("04.max_weight", EXERCISES["04.max_weight"].reference)
    check("04.max_weight", lambda g, n: None)
    check("04.max_weight", lambda g, n: 0.5)
    assert "Stuck?" in capsys.readouterr().out.splitlines()[-1]


def test_exceptions_are_reported_not_raised():
    verdict = evaluate("01.unk_rate", lambda a, b, n: {}[b])
    assert verdict.status == "error"
    assert (
        "✗ check 1 (every test word known) raised KeyError: 'the sea, a gull.'" in verdict.message
    )
    assert "  input:    " in verdict.message


def test_non_callable_and_unknown_names():
    verdict = evaluate("05.score_std", 4.0)
    assert verdict.status == "error" and "without calling it" in verdict.message
    with pytest.raises(KeyError, match="no exercise called '99.nothing'"):
        evaluate("99.nothing", print)
    with pytest.raises(ValueError, match="already registered"):
        checker.register(EXERCISES["05.score_std"])


# --- wrong types ------------------------------------------------------------------------


def _ref(name):
    return EXERCISES[name].reference


@pytest.mark.parametrize(
    "name, answer, message",
    [
        ("01.lossless_split", lambda t: np.array(_ref("01.lossless_split")(t)),
         "wrong type: expected a list, got a numpy.ndarray."),
        ("01.lossless_split", lambda t: tuple(_ref("01.lossless_split")(t)),
         "wrong type: expected a list, got a tuple."),
        ("03.analogy", lambda w, a, b, c: torch.tensor(_ref("03.analogy")(w, a, b, c)),
         "wrong type: expected an int, got a torch.Tensor (.item() turns a one-number tensor "
         "into an int)."),
        ("05.attention_multiply_adds",
         lambda *a: float(_ref("05.attention_multiply_adds")(*a)),
         "wrong type: expected an int, got a float."),
        ("03.target_counts", lambda *a: list(np.array(_ref("03.target_counts")(*a))),
         "item 0: wrong type: expected an int, got a numpy.int64."),
        ("04.cosine_attention", lambda x, t: _ref("04.cosine_attention")(x, t).numpy(),
         "wrong type: expected a torch.Tensor, got a numpy.ndarray."),
        ("04.max_weight", lambda g, n: torch.tensor(_ref("04.max_weight")(g, n)),
         "wrong type: expected a float, got a torch.Tensor (.item() turns a one-number tensor "
         "into a float)."),
        ("05.score_std", lambda *a: str(_ref("05.score_std")(*a)),
         "wrong type: expected a float, got a str."),
    ],
)  # fmt: skip
def test_a_wrong_type_is_named(name, answer, message):
    verdict = evaluate(name, answer)
    assert verdict.status == "failed"
    assert message in verdict.message.splitlines()[1], verdict.message
    assert "expected:" in verdict.message and "got:" in verdict.message


def test_an_int_is_a_fine_float_and_floats_have_a_tolerance():
    assert evaluate("05.score_std", lambda d, q, k, s: round(q * k * (1 if s else d**0.5))).status \
        == "failed"  # fmt: skip
    ref = EXERCISES["04.max_weight"].reference
    assert evaluate("04.max_weight", lambda g, n: ref(g, n) * (1 + 1e-9)).ok
    assert not evaluate("04.max_weight", lambda g, n: ref(g, n) * (1 + 1e-4)).ok
    name = "99.an_int_for_a_float"
    checker.register(Exercise(name, lambda n: n / 2, [Case("four", (4,))], "halve it"))
    try:
        assert evaluate(name, lambda n: n // 2).ok
        assert "expected a float, got a bool" in evaluate(name, lambda n: True).message
    finally:
        del EXERCISES[name]


def test_small_scalars_are_shown_not_rounded_to_zero():
    assert checker._show(1e-5) == "1e-05" and checker._show(-0.0) == "0.0"
    assert checker._show(np.arange(2)).startswith("numpy array of shape (2,), int64: [0, 1]")


# --- time limit -------------------------------------------------------------------------


def _loops_forever(*args):
    while True:
        pass


def _swallows_everything(*args):
    while True:
        try:
            time.sleep(0.01)
        except Exception:  # a learner's broad except cannot swallow the time limit
            pass


@pytest.mark.parametrize("answer", [_loops_forever, _swallows_everything])
def test_a_loop_is_stopped_by_the_time_limit(temporary, answer):
    name = temporary(Exercise("99.loop", lambda n: n, [Case("one", (1,))], "return n", 0.3))
    previous = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    verdict = evaluate(name, answer)
    assert time.perf_counter() - start < 2
    assert verdict.status == "timed_out"
    assert (
        "✗ check 1 (one) did not finish within 0.3 s, so the check stopped it." in verdict.message
    )
    assert "  input:    1" in verdict.message
    assert signal.getsignal(signal.SIGALRM) is previous  # the kernel's handler is back
    assert evaluate(name, lambda n: n).ok  # and the next check runs normally


def test_the_time_limit_works_outside_the_main_thread(temporary):
    """Off the main thread there is no SIGALRM: the watchdog stops the loop instead."""
    name = temporary(Exercise("99.loop", lambda n: n, [Case("one", (1,))], "return n", 0.3))
    before = set(threading.enumerate())  # e.g. tqdm's monitor thread, started by other tests
    verdicts = []
    worker = threading.Thread(target=lambda: verdicts.append(evaluate(name, _loops_forever)))
    worker.start()
    worker.join(5)
    assert verdicts and verdicts[0].status == "timed_out"
    time.sleep(0.2)
    assert not any(t.is_alive() and t is not worker and t not in before
                   for t in threading.enumerate() if t.daemon)  # fmt: skip
    assert not worker.is_alive()


def test_the_default_time_limit_leaves_slow_but_correct_answers_alone():
    ref = EXERCISES["05.cross_attention"].reference

    def slow(*args):
        time.sleep(0.05)
        return ref(*args)

    assert evaluate("05.cross_attention", slow).ok


# --- inputs are copied ------------------------------------------------------------------


def _linear(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(3, 2).eval()


def test_a_module_changed_by_one_attempt_is_fresh_for_the_next(temporary):
    """The same module object in two cases: zeroing it in check 1 must not leak into check 2."""
    layer, x = _linear(0), torch.ones(1, 3)

    def reference(module, inputs):
        with torch.no_grad():
            return module(inputs)

    name = temporary(Exercise(
        "99.module", reference, [Case("first", (layer, x)), Case("second", (layer, x))], "apply"
    ))  # fmt: skip

    def zeroes_then_applies(module, inputs):
        with torch.no_grad():
            out = module(inputs)
            module.weight.zero_()
            module.bias.zero_()
        return out

    assert evaluate(name, zeroes_then_applies).ok
    assert evaluate(name, reference).ok
    assert layer.weight.abs().sum() > 0  # the case's own module was never touched


def test_lists_and_tensors_changed_by_an_answer_are_fresh_for_the_reference():
    ref = EXERCISES["04.cosine_attention"].reference

    def mutates(x, t):
        out = ref(x, t)
        x.fill_(0.0)
        return out

    assert evaluate("04.cosine_attention", mutates).ok

    def clears(text, merges, specials, new):
        out = EXERCISES["02.add_special_token"].reference(text, merges, specials, new)
        merges.clear()
        specials.clear()
        return out

    assert evaluate("02.add_special_token", clears).ok


# --- output ------------------------------------------------------------------------------


def test_output_is_deterministic_and_has_no_addresses(capsys):
    def run_all():
        for lesson in LESSONS:
            try:
                tests = importlib.import_module(f"tests.exercises.test_lesson{lesson}")
            except ModuleNotFoundError:
                continue
            for name, mistakes in tests.WRONG.items():
                for answer in [EXERCISES[name].reference, *mistakes.values()]:
                    print(evaluate(name, answer).message)
        return capsys.readouterr().out

    first = run_all()
    assert run_all() == first
    assert " at 0x" not in first and "<function" not in first and "lambda" not in first
