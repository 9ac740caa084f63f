"""Fast guards over the stored notebooks (no kernel is started).

nbval compares a fresh run with the outputs stored in each notebook; a notebook
stored without outputs, or with cells never executed, would give it nothing to
compare and pass vacuously. These checks make such a notebook fail instead.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from llm101_helpers import GIT_URL
from tools.run_tests import NBVAL_ARGS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
LESSONS = [p for p in NOTEBOOKS if p.parent == ROOT / "notebooks"]
ALLOWED_TAGS = {"nbval-ignore-output", "raises-exception", "nbval-skip"}
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}
MAX_IGNORED_FRACTION = 0.25

COLAB_CELL = f"""\
# On Colab, install the course's helper package; anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "llm101-helpers @ git+{GIT_URL}"
    import importlib.util

    if importlib.util.find_spec("llm101_helpers") is None:
        raise RuntimeError(
            "Installing llm101-helpers failed (see pip's message above): "
            "check that the runtime is online, then run this cell again."
        )"""


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def notebook_problems(nb) -> list[str]:
    """Everything that would make nbval's pass on this notebook meaningless."""
    problems = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec is {kernel!r}, expected 'python3'")
    cells = code_cells(nb)
    if not cells:
        problems.append("no code cells")
        return problems
    counts = [c.execution_count for c in cells]
    unexecuted = sum(c is None for c in counts)
    if unexecuted:
        problems.append(f"{unexecuted} of {len(cells)} code cells were never executed")
    elif counts != list(range(1, len(cells) + 1)):
        problems.append(f"execution counts are {counts}, expected 1..{len(cells)} in order")
    if not any(c.outputs for c in cells):
        problems.append("no cell has any stored output")
    ignored = [c for c in cells if IGNORE_TAGS & set(c.metadata.get("tags", []))]
    if len(ignored) > MAX_IGNORED_FRACTION * len(cells):
        problems.append(
            f"{len(ignored)} of {len(cells)} code cells are tagged to be ignored "
            f"(at most {MAX_IGNORED_FRACTION:.0%} allowed)"
        )
    for i, cell in enumerate(nb.cells):
        unknown = set(cell.metadata.get("tags", [])) - ALLOWED_TAGS
        if unknown:
            problems.append(f"cell {i} has unknown tags {sorted(unknown)}")
        if cell.cell_type == "code" and "execution" in cell.metadata:
            problems.append(f"cell {i} stores timing metadata (regenerate with `make notebooks`)")
        if cell.cell_type == "code":
            for out in cell.outputs:
                if out.output_type == "error" and "raises-exception" not in cell.metadata.get(
                    "tags", []
                ):
                    problems.append(f"cell {i} stores an error but is not tagged raises-exception")
    if "widgets" in nb.metadata:
        problems.append("stores widget state (regenerate with `make notebooks`)")
    return problems


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_welcome.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_fully_executed_and_checkable(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert notebook_problems(nb) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_layout(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name notebooks NN_topic.ipynb"
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.source == COLAB_CELL, (
        "the first cell must be the course's Colab install cell (see CONTRIBUTING.md)"
    )
    assert first.outputs == [], "the Colab cell prints nothing outside Colab"
    title = nb.cells[1]
    assert title.cell_type == "markdown" and title.source.startswith("# "), "second cell: a title"
    assert any(
        c.cell_type == "markdown" and c.source.lstrip().lower().startswith("## summary")
        for c in nb.cells
    ), "end with a '## Summary' section"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_readme_lists_every_lesson_with_a_colab_badge(path):
    readme = (ROOT / "README.md").read_text("utf-8")
    slug = GIT_URL.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}"
    assert badge in readme


SOLUTIONS = [p for p in NOTEBOOKS if p.parent == ROOT / "notebooks" / "solutions"]
CHECK_CALL = re.compile(r"""^check\("(\d\d\.\w+)",""", re.MULTILINE)


def _checks(nb) -> dict[str, str]:
    """Exercise name -> the stored output of the cell that checks it."""
    found = {}
    for cell in code_cells(nb):
        for name in CHECK_CALL.findall(cell.source):
            found[name] = "".join(o.get("text", "") for o in cell.outputs)
    return found


# Lessons without exercises: the welcome (nothing to build yet).
NO_EXERCISES = {"00"}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_exercises_have_stubs_and_executed_solutions(path):
    """Lesson stubs say "not implemented yet"; NN_topic_solutions.ipynb passes every one."""
    nb = nbformat.read(path, as_version=4)
    stubs = _checks(nb)
    if path.name[:2] in NO_EXERCISES:
        pytest.skip(f"notebook {path.name[:2]} has no exercises")
    assert len(stubs) == 3, f"a lesson ends with exactly three exercises, found {len(stubs)}"
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
    assert headings.index("## Exercises") < max(
        i for i, h in enumerate(headings) if h.lower().startswith("## summary")
    ), "the exercises come before the Summary"
    for name, out in stubs.items():
        assert out.startswith(f"{name}: not implemented yet"), (name, out)
    solution = ROOT / "notebooks" / "solutions" / f"{path.stem}_solutions.ipynb"
    assert solution.exists(), f"no solutions notebook {solution.name}"
    solved = _checks(nbformat.read(solution, as_version=4))
    assert set(solved) == set(stubs), "the solutions answer exactly the lesson's exercises"
    for name, out in solved.items():
        assert re.fullmatch(rf"{re.escape(name)}: all \d+ checks passed ✓ \(.*\)\n", out), out


class _EraseNames(ast.NodeTransformer):
    """Variable and argument names become ``_``; attributes, constants and operators stay."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(id="_", ctx=ast.Load())

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(arg="_")

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        if hasattr(node, "ctx"):
            node.ctx = ast.Load()
        return node


def _normal(node: ast.AST) -> str:
    """A statement's value (``return E``, ``x = E`` and ``E`` all give E), names erased."""
    if isinstance(node, (ast.Return, ast.Assign, ast.AnnAssign, ast.Expr)) and node.value:
        node = node.value
    return ast.dump(_EraseNames().visit(copy.deepcopy(node)), annotate_fields=False)


def _parse_cell(source: str) -> ast.Module | None:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def reference_appears(reference, sources: list[str]) -> bool:
    """Whether the reference's body, names erased, is written out in ``sources``: as a run of
    consecutive statements, or (for a one-statement body) as any expression."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(reference)))
    body = tree.body[0].body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    wanted = [_normal(stmt) for stmt in body]
    for source in sources:
        cell = _parse_cell(source)
        for node in ast.walk(cell) if cell else ():
            if len(wanted) == 1 and isinstance(node, ast.expr) and _normal(node) == wanted[0]:
                return True
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                    continue
                found = [_normal(stmt) for stmt in block]
                n = len(wanted)
                if any(found[i : i + n] == wanted for i in range(len(found) - n + 1)):
                    return True
    return False


def _cells_above_each_check(nb) -> dict[str, list[str]]:
    """Exercise name -> the sources of the code cells above its check cell."""
    above, cells = {}, code_cells(nb)
    for i, cell in enumerate(cells):
        for name in CHECK_CALL.findall(cell.source):
            above[name] = [c.source for c in cells[:i]]
    return above


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_no_exercise_retypes_code_shown_above_it(path):
    """An exercise asks for something the lesson did not write out: its reference, names and
    white space ignored, is not in the code cells above it."""
    from llm101_helpers.exercises import EXERCISES

    above = _cells_above_each_check(nbformat.read(path, as_version=4))
    ex = EXERCISES
    retyped = [n for n, src in above.items() if n in ex and reference_appears(ex[n].reference, src)]
    assert retyped == [], f"these exercises retype code the lesson shows above them: {retyped}"


def test_the_retyping_guard_can_fail():
    """Renamed variables and other spacing do not hide a reference; a different formula does."""
    from llm101_helpers.exercises import EXERCISES

    cross = EXERCISES["05.cross_attention"].reference
    shown = (
        "q = tokens @ Wq\n"
        "kk, vv = mem @ Wk,   mem @ Wv\n"
        "w = torch.softmax(q @ kk.T / math.sqrt(kk.shape[-1]), dim=-1)\n"
        "out = w @ vv\n"
    )
    assert reference_appears(cross, ["%matplotlib inline\nimport torch", shown])
    assert not reference_appears(cross, [shown.replace("kk.T", "kk.mT")])

    def one_line(scores):
        """Docstrings do not count."""
        return torch.softmax(scores, dim=-1)  # noqa: F821

    assert reference_appears(one_line, ["out = torch.softmax(s, dim=-1) @ x"])
    assert not reference_appears(one_line, ["out = torch.softmax(s, dim=0) @ x"])


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_layout(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+_solutions\.ipynb", path.name)
    assert (ROOT / "notebooks" / path.name.replace("_solutions", "")).exists(), "no such lesson"
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "code" and nb.cells[0].source == COLAB_CELL
    assert nb.cells[1].cell_type == "markdown"
    assert nb.cells[1].source.startswith(f"# {path.name[:2]} · "), "title: # NN · Topic: solutions"


def _welcome():
    return nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)


def test_guard_fails_on_a_stripped_notebook():
    nb = _welcome()
    for cell in code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    problems = notebook_problems(nb)
    assert any("never executed" in p for p in problems)
    assert any("no cell has any stored output" in p for p in problems)


def test_guard_fails_on_out_of_order_counts_wrong_kernel_and_too_many_ignores():
    nb = _welcome()
    cells = code_cells(nb)
    cells[0].execution_count, cells[1].execution_count = (
        cells[1].execution_count,
        cells[0].execution_count,
    )
    nb.metadata["kernelspec"] = {"name": "python2"}
    for cell in cells:
        cell.metadata["tags"] = ["nbval-ignore-output"]
    problems = notebook_problems(nb)
    assert any("execution counts" in p for p in problems)
    assert any("kernelspec is 'python2'" in p for p in problems)
    assert any("tagged to be ignored" in p for p in problems)


@pytest.mark.slow
def test_nbval_fails_when_a_stored_output_changes(tmp_path):
    """Strict nbval, run as the test command runs it, catches an edited printed value."""
    nb = _welcome()
    edited = copy.deepcopy(nb)
    target = next(
        c
        for c in code_cells(edited)
        if "nbval-ignore-output" not in c.metadata.get("tags", [])
        and any(o.get("output_type") == "stream" and re.search(r"\d", o.text) for o in c.outputs)
    )
    stream = next(
        o for o in target.outputs if o.get("output_type") == "stream" and re.search(r"\d", o.text)
    )
    stream.text = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), stream.text, count=1)
    path = tmp_path / "00_welcome.ipynb"
    nbformat.write(edited, path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(path), *NBVAL_ARGS, "-p", "no:cacheprovider",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed" in result.stdout
    assert "Cell outputs differ" in result.stdout
