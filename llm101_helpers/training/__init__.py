"""Training a GPT (notebooks 10 and 12): batches, the loop, checkpoints and the command line.

- ``batches``: :func:`split_ids` (train/validation by position) and :func:`get_batch`
  (random stride-1 windows of :class:`~llm101_helpers.data.SlidingWindowDataset`).
- ``loop``: :class:`TrainConfig`, :func:`learning_rate` (warmup + cosine),
  :func:`evaluate`, :func:`train` and the :class:`History` it returns.
- ``checkpoints``: :func:`save_checkpoint` / :func:`load_checkpoint`,
  :class:`CheckpointError` and :func:`shipped_checkpoint` (the repository's trained
  poets, downloaded where there is no clone); ``storage`` holds what makes a save
  atomic and verified.
- ``scoring``: bits per character on held-out text and the share of generated words
  that are real words: how the poets of notebooks 10 and 12 are compared.
- ``distributed``: data-parallel training under ``torchrun`` (DDP; gloo on CPUs,
  NCCL on GPUs), each rank a slice of every global batch; resumable runs (notebook 13).
- ``cli``: ``python -m llm101_helpers.training --corpus poems --config small`` (one
  process, or ``torchrun --nproc_per_node=N -m llm101_helpers.training ...``).
"""

from llm101_helpers.training.batches import get_batch, split_ids
from llm101_helpers.training.checkpoints import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    shipped_checkpoint,
)
from llm101_helpers.training.cli import main
from llm101_helpers.training.loop import History, TrainConfig, evaluate, learning_rate, train

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "History",
    "TrainConfig",
    "evaluate",
    "get_batch",
    "learning_rate",
    "load_checkpoint",
    "main",
    "save_checkpoint",
    "shipped_checkpoint",
    "split_ids",
    "train",
]
