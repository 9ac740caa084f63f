"""The package installs the way learners install it: from a built wheel (as pip
does for a git URL on Colab), where the repository's data/ folder is absent."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runtime_requirements() -> list[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return project["dependencies"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


#: What a clean clone holds that the build reads (a stale build/ folder of the checkout is not).
SOURCE_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "data"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name)
        else:
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "llm101_helpers",
        src / "llm101_helpers",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)]
    if importlib.util.find_spec("setuptools") and importlib.util.find_spec("wheel"):
        cmd.insert(4, "--no-build-isolation")  # build offline with the installed setuptools
    subprocess.run(cmd, check=True, cwd=src, timeout=600)
    (built,) = out.glob("llm101_helpers-*.whl")
    return built


@pytest.mark.slow
def test_wheel_ships_the_corpus(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "llm101_helpers/corpus/poems.txt" in names
    assert "llm101_helpers/corpus/README.md" in names
    packaged = zipfile.ZipFile(wheel).read("llm101_helpers/corpus/poems.txt")
    assert packaged == (ROOT / "data" / "poems.txt").read_bytes()


@pytest.mark.slow
def test_wheel_ships_every_module_and_nothing_else(wheel):
    """Subpackages (tokenizers, training, viz, ...) included; tests, tools and bench left out."""
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "llm101_helpers").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert source - names == set(), "modules missing from the wheel"
    shipped = {n for n in names if n.endswith(".py")}
    assert shipped - source == set(), "the wheel ships Python files that are not the package's"


@pytest.mark.slow
def test_load_poems_from_an_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    pip_install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    subprocess.run([*pip_install, "--target", str(site), str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import pathlib, sys\n"
        "import llm101_helpers, llm101_helpers.data as d\n"
        "where = pathlib.Path(llm101_helpers.__file__)\n"
        "assert where.is_relative_to(pathlib.Path(sys.argv[1])), where\n"
        "print(len(d.load_poem_records()), len(d.load_poems()))\n"
        "import importlib, pkgutil\n"  # every module and subpackage imports from the wheel
        "for m in pkgutil.iter_modules(llm101_helpers.__path__):\n"
        "    importlib.import_module('llm101_helpers.' + m.name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    from llm101_helpers.data import load_poem_records, load_poems

    assert result.stdout.split() == [str(len(load_poem_records())), str(len(load_poems()))]


def test_environment_yml_matches_pyproject():
    env = (ROOT / "environment.yml").read_text("utf-8")
    conda_names = {"torch": "pytorch"}
    listed = {_name(line.strip()[2:]) for line in env.splitlines() if line.strip().startswith("- ")}
    missing = [
        req
        for req in _runtime_requirements()
        if conda_names.get(_name(req), _name(req)) not in listed
    ]
    installs_itself = re.search(r'^\s*- -e "?\.(\[dev\])?"?\s*$', env, re.MULTILINE)
    assert not missing, f"environment.yml lacks {missing} (conda users get them from pip otherwise)"
    assert installs_itself, "environment.yml must pip-install the package itself"


def test_torch_has_no_upper_pin():
    torch_req = next(r for r in _runtime_requirements() if _name(r) == "torch")
    assert "<" not in torch_req and "==" not in torch_req
