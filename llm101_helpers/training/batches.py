"""Token ids to training batches: a split by position and random next-token windows."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llm101_helpers.data import SlidingWindowDataset

__all__ = ["check_token_ids", "get_batch", "split_ids"]


def split_ids(
    ids: Sequence[int] | torch.Tensor, val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, val)``: the first ``1 - val_fraction`` of the token ids, and the rest.

    A split by position (not by random windows) keeps validation text unseen:
    no window of it overlaps the training text.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def check_token_ids(ids: torch.Tensor, vocab_size: int, name: str = "data") -> None:
    """Raise ``ValueError`` naming the first id of ``ids`` outside ``[0, vocab_size)``."""
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"{name}: token ids must be integers, got a tensor of dtype {ids.dtype}")
    bad = ((ids < 0) | (ids >= vocab_size)).nonzero()
    if len(bad):
        where = int(bad[0, 0])
        raise ValueError(
            f"{name} holds token id {int(ids.flatten()[where])} (at position {where:,}), outside "
            f"the model's vocabulary: ids must be in [0, {vocab_size}) for vocab_size={vocab_size}"
        )


def get_batch(
    data: torch.Tensor | Sequence[int] | SlidingWindowDataset,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``data``: inputs and next-token targets, ``(B, T)``.

    The windows are those of a :class:`~llm101_helpers.data.SlidingWindowDataset`
    with stride 1 (every start position), drawn uniformly with ``generator``.
    ``data`` may be that dataset already (:func:`train` builds it once).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(data, SlidingWindowDataset):
        if data.stride != 1 or data.context_length != context_length:
            raise ValueError(
                f"get_batch needs a SlidingWindowDataset with stride 1 and context_length "
                f"{context_length}, got {data!r}"
            )
        windows = data
    else:
        windows = SlidingWindowDataset(data, context_length, stride=1)
    starts = torch.randint(len(windows), (batch_size,), generator=generator)  # (B,)
    # One gather instead of a Python loop: row b holds ids starts[b] .. starts[b] + T
    chunks = windows.ids[starts[:, None] + torch.arange(context_length + 1)]  # (B, T + 1)
    x, y = chunks[:, :-1], chunks[:, 1:]  # (B, T) each: inputs, and the next ids as targets
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(
            device, non_blocking=True
        )
    return x.to(device), y.to(device)
