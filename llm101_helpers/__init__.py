"""Helper package for LLM 101.

The notebooks derive each idea step by step; the class a notebook arrives at
lives here, grouped by concept:

- ``device``: pick CUDA, MPS or CPU and make notebook output reproducible.
- ``data``: the course's own poetry corpus, public-domain corpora on demand,
  and next-token training windows (``SlidingWindowDataset``, ``create_dataloader``).
- ``tokenizers``: ``WordTokenizer`` (notebook 01) and byte-level ``BPETokenizer`` (02).
- ``embeddings``: token and position embeddings, skip-gram word vectors (03).
- ``attention``: simple, self, causal and multi-head attention (04-07), the
  fused-QKV variant and the KV cache (11).
- ``normalization``: ``LayerNorm`` and ``RMSNorm`` (08).
- ``model``: the transformer block and the GPT, with ``generate`` (09; KV-cached, 11).
- ``training``: training loop, evaluation and checkpoints (10).
- ``performance``: timing and memory measured honestly, attention variants (11).
- ``viz``: heatmaps, plots and the notebooks' interactive widgets.
- ``exercises``: ``check(name, answer)`` for the exercises at the end of each notebook.
"""

from llm101_helpers.device import describe_device, get_device, setup_notebook

__version__ = "0.1.0"

#: Where learners install the package from on Colab (the notebooks' first cell).
REPO_SLUG = "llm101-course/llm101"
GIT_URL = f"https://github.com/{REPO_SLUG}"

__all__ = ["GIT_URL", "REPO_SLUG", "__version__", "describe_device", "get_device", "setup_notebook"]
