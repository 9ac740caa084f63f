"""Point every link to the course's repository at one place: ``REPO_SLUG``.

``llm101_helpers/__init__.py`` names the repository (``REPO_SLUG = "owner/name"``);
the package derives ``GIT_URL`` from it, so the checkpoint download of
``shipped_checkpoint`` follows. This tool rewrites the copies the package cannot reach:

- the README's "Open in Colab" badges and its ``pip install ... git+`` line,
- the first cell of every notebook (``%pip install "llm101-helpers @ git+..."``),
- any other ``github.com/OLD``, ``raw.githubusercontent.com/OLD`` link to it.

    python -m tools.links owner/name    # set REPO_SLUG, then rewrite the links
    python -m tools.links               # rewrite the links from the current REPO_SLUG
    python -m tools.links --check       # list the links that disagree; exit 1 if any

``make links REPO=owner/name`` runs the first form. Notebooks are read and
written with nbformat and only written when a link changed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
INIT = Path("llm101_helpers") / "__init__.py"
SLUG_LINE = re.compile(r'^REPO_SLUG = "([^"]*)"$', re.MULTILINE)
VALID_SLUG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")
_SLUG = r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+?"
_END = r"(?=\.git\b|[^A-Za-z0-9._-]|$)"
#: Links that can only mean the course's own repository, whatever owner/name they carry now.
OWN_LINKS = [
    re.compile(rf"(colab\.research\.google\.com/github/)({_SLUG})(?=/blob/)"),
    re.compile(rf"(llm101-helpers @ git\+https://github\.com/)({_SLUG}){_END}"),
]


def current_slug(root: Path = ROOT) -> str:
    found = SLUG_LINE.search((root / INIT).read_text("utf-8"))
    if found is None:
        raise SystemExit(f'{INIT} has no line REPO_SLUG = "owner/name"')
    return found.group(1)


def set_slug(slug: str, root: Path = ROOT) -> None:
    if not VALID_SLUG.fullmatch(slug):
        raise SystemExit(f"REPO must look like owner/name (a GitHub repository), got {slug!r}")
    init = root / INIT
    init.write_text(SLUG_LINE.sub(f'REPO_SLUG = "{slug}"', init.read_text("utf-8")), "utf-8")


def rewrite(text: str, old: str, new: str) -> str:
    """``text`` with every link to the course's repository pointing at ``new``."""
    for pattern in OWN_LINKS:
        text = pattern.sub(lambda m: m.group(1) + new, text)
    for host in ("github.com/", "raw.githubusercontent.com/"):
        text = re.sub(rf"(?<={re.escape(host)}){re.escape(old)}{_END}", new, text)
    return text


def linked_slugs(text: str) -> set[str]:
    """The owner/name of every course link in ``text`` (badges and ``git+`` installs)."""
    return {m.group(2) for pattern in OWN_LINKS for m in pattern.finditer(text)}


def files(root: Path = ROOT) -> list[Path]:
    docs = [root / name for name in ("README.md", "CONTRIBUTING.md") if (root / name).exists()]
    return docs + sorted((root / "notebooks").rglob("*.ipynb"))


def _rewrite_file(path: Path, old: str, new: str) -> bool:
    """Rewrite one README or notebook; True when it changed."""
    if path.suffix != ".ipynb":
        text = path.read_text("utf-8")
        changed = rewrite(text, old, new)
        if changed != text:
            path.write_text(changed, "utf-8")
        return changed != text
    nb = nbformat.read(path, as_version=4)
    touched = False
    for cell in nb.cells:
        source = rewrite(cell.source, old, new)
        touched |= source != cell.source
        cell.source = source
    if touched:
        nbformat.write(nb, path)
    return touched


def disagreements(root: Path = ROOT) -> list[str]:
    """``path: owner/name`` for every course link that does not use REPO_SLUG."""
    slug = current_slug(root)
    found = []
    for path in files(root):
        for other in sorted(linked_slugs(path.read_text("utf-8")) - {slug}):
            found.append(f"{path.relative_to(root)}: {other} (REPO_SLUG is {slug})")
    return found


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.links", description=__doc__.split("\n")[0]
    )
    parser.add_argument("repo", nargs="?", help="owner/name of the GitHub repository")
    parser.add_argument("--check", action="store_true", help="only report disagreeing links")
    args = parser.parse_args(argv)
    if args.check:
        problems = disagreements(root)
        print("\n".join(problems) or f"every link points at {current_slug(root)}")
        return 1 if problems else 0
    old = current_slug(root)
    if args.repo:
        set_slug(args.repo, root)
    new = current_slug(root)
    changed = [p.relative_to(root).as_posix() for p in files(root) if _rewrite_file(p, old, new)]
    print(
        f"REPO_SLUG = {new!r}; rewrote links in {len(changed)} files"
        + "".join(f"\n  {c}" for c in changed)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
