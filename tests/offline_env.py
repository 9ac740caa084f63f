"""Point the course's tests at offline copies of the files they would download.

The root ``conftest.py`` calls this for the unit tests and the nbval notebook run,
and ``python -m tools.regenerate_notebooks`` for the notebooks it re-executes.
CI machines have no network. When ``../shared/data`` sits beside the checkout,
this sets, for the current process and every kernel it starts:

- ``TIKTOKEN_CACHE_DIR`` to a temporary copy of ``../shared/data/tiktoken-cache``
  (tiktoken reads its cache from there instead of downloading GPT-2's files);
- ``LLM101_DATA_MIRROR`` to ``../shared/data/mirror`` (``download_corpus`` copies
  from there instead of downloading);
- ``LLM101_CACHE_DIR`` to a temporary folder, so test runs start with an empty
  corpus cache and leave nothing in the user's cache.

Variables that are already set are left alone. Nothing from ``shared/`` is
copied into the repository.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def configure_offline_env() -> dict[str, str]:
    """Set the variables above where possible; return the ones this call set."""
    changed: dict[str, str] = {}
    cache = SHARED_DATA / "tiktoken-cache"
    if "TIKTOKEN_CACHE_DIR" not in os.environ and cache.is_dir():
        tmp = tempfile.mkdtemp(prefix="llm101-tiktoken-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        shutil.copytree(cache, tmp, dirs_exist_ok=True)
        changed["TIKTOKEN_CACHE_DIR"] = tmp
    mirror = SHARED_DATA / "mirror"
    if "LLM101_DATA_MIRROR" not in os.environ and mirror.is_dir():
        changed["LLM101_DATA_MIRROR"] = str(mirror)
    if "LLM101_CACHE_DIR" not in os.environ:
        tmp = tempfile.mkdtemp(prefix="llm101-cache-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        changed["LLM101_CACHE_DIR"] = tmp
    os.environ.update(changed)
    return changed
