"""The package installs the way learners install it: from a built wheel (as pip
does for a git URL on Colab), where the repository's data/ folder is absent."""

from __future__ import annotations

import importlib.util
import os
import re
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)]
    if importlib.util.find_spec("setuptools") and importlib.util.find_spec("wheel"):
        cmd.insert(4, "--no-build-isolation")  # build offline with the installed setuptools
    subprocess.run(cmd, check=True, cwd=ROOT, timeout=600)
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
