"""Helper package for LLM 101.

The notebooks derive each idea step by step; the class a notebook arrives at
lives here, grouped by concept:

- ``device``: pick CUDA, MPS or CPU and make notebook output reproducible.
- ``data``: the course's own poetry corpus and public-domain corpora on demand.
"""

from llm101_helpers.device import describe_device, get_device, setup_notebook

__version__ = "0.1.0"

#: Where learners install the package from on Colab (the notebooks' first cell).
REPO_SLUG = "llm101-course/llm101"
GIT_URL = f"https://github.com/{REPO_SLUG}"

__all__ = ["GIT_URL", "REPO_SLUG", "__version__", "describe_device", "get_device", "setup_notebook"]
