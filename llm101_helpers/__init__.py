"""Helper package for LLM 101: what the notebooks build, ready to import.

Each notebook derives an idea step by step and ends at a class or function that
lives here, one module (or small subpackage) per concept. The map of the
modules and their main names is the table "The helper package" in the
repository's README.md (tests/test_code_layout.py keeps it in step with the
package). The top level holds only what the notebooks' first cells use
(``setup_notebook``, ``get_device``, ``describe_device``), the version and the
repository's address.
"""

from llm101_helpers.device import describe_device, get_device, setup_notebook

__version__ = "0.1.0"

#: Where learners install the package from on Colab (the notebooks' first cell).
REPO_SLUG = "llm101-course/llm101"
GIT_URL = f"https://github.com/{REPO_SLUG}"

__all__ = ["GIT_URL", "REPO_SLUG", "__version__", "describe_device", "get_device", "setup_notebook"]
