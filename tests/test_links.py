"""Every link to the course's repository follows ``REPO_SLUG`` (``tools/links.py``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from llm101_helpers import GIT_URL, REPO_SLUG
from tools import links

ROOT = Path(__file__).resolve().parents[1]


def test_every_link_points_at_repo_slug():
    assert links.current_slug() == REPO_SLUG
    assert links.disagreements() == []


def test_the_links_are_found():
    """The check sees the badges and install cells (an empty match would pass anything)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    welcome = (ROOT / "notebooks" / "00_welcome.ipynb").read_text("utf-8")
    assert links.linked_slugs(readme) == {REPO_SLUG}
    assert links.linked_slugs(welcome) == {REPO_SLUG}
    assert readme.count(f"colab.research.google.com/github/{REPO_SLUG}/blob/main/") >= 12


def test_the_checkpoint_download_follows_git_url(tmp_path, monkeypatch):
    """``shipped_checkpoint`` builds its download URL from GIT_URL, for files the repository has."""
    import urllib.request

    from llm101_helpers.training import shipped_checkpoint

    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        raise OSError("offline test")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("LLM101_CACHE_DIR", str(tmp_path))
    nb = json.loads((ROOT / "notebooks" / "10_training_a_tiny_poet.ipynb").read_text("utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    (name,) = [n for s in sources for n in re.findall(r'shipped_checkpoint\("([^"]+)"\)', s)]
    with pytest.raises(OSError, match="offline test"):
        shipped_checkpoint(name, folder=tmp_path)
    (url,) = asked
    assert url.startswith(f"{GIT_URL}/raw/main/"), "the download URL must start with GIT_URL"
    assert (ROOT / url.removeprefix(f"{GIT_URL}/raw/main/")).is_file(), url
    assert GIT_URL == f"https://github.com/{REPO_SLUG}"


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of what the tool edits: README, CONTRIBUTING, notebooks, the package's __init__."""
    for name in ("README.md", "CONTRIBUTING.md"):
        shutil.copy2(ROOT / name, tmp_path / name)
    ignore = shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=ignore)
    (tmp_path / "llm101_helpers").mkdir()
    shutil.copy2(ROOT / links.INIT, tmp_path / links.INIT)
    return tmp_path


def _texts(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text("utf-8") for p in links.files(root)}


def test_a_disagreeing_link_is_reported(checkout):
    readme = checkout / "README.md"
    badge = f"colab.research.google.com/github/{REPO_SLUG}/blob/main/notebooks/03_embeddings"
    readme.write_text(readme.read_text("utf-8").replace(badge, badge.replace(REPO_SLUG, "a/b")))
    assert links.disagreements(checkout) == [f"README.md: a/b (REPO_SLUG is {REPO_SLUG})"]
    assert links.main(["--check"], root=checkout) == 1


def test_make_links_moves_every_link_and_back(checkout):
    before = _texts(checkout)
    assert links.main(["someone/a-fork"], root=checkout) == 0
    assert links.current_slug(checkout) == "someone/a-fork"
    moved = _texts(checkout)
    assert not [name for name, text in moved.items() if REPO_SLUG in text], "old links left"
    assert links.disagreements(checkout) == []
    assert sum(text.count("someone/a-fork") for text in moved.values()) >= 12 + len(moved) - 2
    assert links.main([REPO_SLUG], root=checkout) == 0
    assert _texts(checkout) == before  # nothing but the links changed


@pytest.mark.parametrize("bad", ["", "no-slash", "a/b/c", "-a/b", "a b/c"])
def test_a_malformed_repository_is_refused(checkout, bad):
    with pytest.raises(SystemExit, match="owner/name"):
        links.set_slug(bad, checkout)
    assert links.current_slug(checkout) == REPO_SLUG
