"""Checkpoints: a GPT's config, tokenizer, weights and notes in one verified file.

:func:`save_checkpoint` checks that everything can be stored and loaded back
(plain values, a tokenizer that fits the model), then writes one
``torch.save`` file atomically (see :mod:`~llm101_helpers.training.storage`)::

    {"format": "llm101-gpt", "version": 2, "config": {...}, "tokenizer": {"kind", "data"},
     "state_dict": {...}, "extra": {...}, "sha256": <digest of everything above>}

:func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` (no
arbitrary code runs), verifies the digest, the config, the tokenizer and the
weights' names and shapes, and only then builds or fills the model. Version 1
files (older parameter names, a digest of the weights only) are still read.
Any problem raises :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer, CharTokenizer
from llm101_helpers.training.storage import (
    atomic_save,
    check_storable,
    payload_digest,
    weights_digest,
)

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "Checkpoint", "CheckpointError",
           "load_checkpoint", "save_checkpoint", "shipped_checkpoint"]  # fmt: skip

CHECKPOINT_FORMAT = "llm101-gpt"
CHECKPOINT_VERSION = 2  # 1: weights-only digest, parameter names before TokenAndPositionEmbedding


class CheckpointError(ValueError):
    """A checkpoint file is damaged, foreign, or does not fit the model."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    model: GPT
    tokenizer: CharTokenizer | BPETokenizer
    config: GPTConfig
    extra: dict


# --- the tokenizer as text ---------------------------------------------------------


def _tokenizer_to_dict(tokenizer: Any) -> dict[str, str]:
    if isinstance(tokenizer, CharTokenizer):
        return {"kind": "char", "data": tokenizer.chars}
    if isinstance(tokenizer, BPETokenizer):
        return {"kind": "bpe", "data": tokenizer.dumps()}
    raise TypeError(
        f"cannot store a {type(tokenizer).__name__} in a checkpoint; "
        "use BPETokenizer or CharTokenizer"
    )


def _tokenizer_from_dict(d: Any, source: str) -> CharTokenizer | BPETokenizer:
    """The stored tokenizer; any problem raises :class:`CheckpointError` naming ``source``."""
    if not isinstance(d, dict) or not isinstance(d.get("data"), str):
        raise CheckpointError(f"{source}: the stored tokenizer is not a {{kind, data}} dict")
    if d.get("kind") == "bpe":
        try:
            return BPETokenizer.loads(d["data"], source=f"the BPE tokenizer stored in {source}")
        except ValueError as err:  # the message names the source
            raise CheckpointError(str(err)) from err
    if d.get("kind") == "char":
        try:
            return CharTokenizer(d["data"])
        except ValueError as err:
            raise CheckpointError(f"{source}: the stored character tokenizer: {err}") from err
    raise CheckpointError(f"{source}: unknown tokenizer kind {d.get('kind')!r}")


# --- saving ------------------------------------------------------------------------


def _payload(model: GPT, tokenizer: Any, extra: dict | None) -> dict:
    """The dict to store, after every check that a load of it would make."""
    config = model.config
    stored_tokenizer = _tokenizer_to_dict(tokenizer)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
            f"{config.vocab_size}: its ids would not fit the model"
        )
    _tokenizer_from_dict(stored_tokenizer, "the tokenizer to save")  # it must read back
    extra = {} if extra is None else extra
    if type(extra) is not dict:
        raise TypeError(f"extra must be a dict, got a {type(extra).__name__}")
    check_storable(extra, "extra")
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if config.tie_weights:  # one matrix: store it once
        alias, _ = GPT.TIED_WEIGHTS
        state_dict.pop(alias)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": config.to_dict(),
        "tokenizer": stored_tokenizer,
        "state_dict": state_dict,
        "extra": extra,
    }
    check_storable(payload, "the checkpoint")
    payload["sha256"] = payload_digest(payload)
    return payload


def save_checkpoint(
    path: str | Path, model: GPT, tokenizer: Any, extra: dict | None = None
) -> Path:
    """Write config, tokenizer, weights and ``extra`` to ``path`` with one SHA-256 over all.

    ``extra`` holds anything else plain (numbers, strings, lists, ``str``-keyed
    dicts, tensors), e.g. how the checkpoint was made; anything else raises
    ``TypeError`` naming the key, and a tokenizer larger than the model's
    vocabulary raises ``ValueError``, before anything is written. The file is
    replaced atomically: an error or Ctrl-C leaves the previous file intact.
    """
    return atomic_save(_payload(model, tokenizer, extra), path)


# --- loading -----------------------------------------------------------------------


def _is_zipfile(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except zipfile.BadZipFile:  # e.g. an end record claiming several disks
        return False


def _read(path: Path) -> dict:
    """``torch.load(path, weights_only=True)``, with every failure as a CheckpointError."""
    if path.exists() and not _is_zipfile(path):  # torch.save writes a zip archive
        raise CheckpointError(
            f"{path} could not be read as a checkpoint (truncated or corrupted?): it is not a "
            f"complete torch.save archive ({path.stat().st_size:,} bytes, no zip directory at "
            "the end); download or save it again"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(
            f"{path} could not be read as a checkpoint (truncated or corrupted?): "
            f"{type(err).__name__}: {first_line}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an llm101 GPT checkpoint (no '{CHECKPOINT_FORMAT}')")
    return payload


def _verify(payload: dict, path: Path) -> None:
    """Check the version, the presence of every part and the digest."""
    version = payload.get("version")
    if version not in (1, CHECKPOINT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}; this llm101_helpers reads versions "
            f"1 and {CHECKPOINT_VERSION}"
        )
    required = ["config", "tokenizer", "state_dict", "sha256"] + ["extra"] * (version > 1)
    missing = [key for key in required if key not in payload]
    if missing or not isinstance(payload["state_dict"], dict):
        raise CheckpointError(f"{path} is damaged: it lacks {missing or ['a state_dict dict']}")
    try:
        digest = payload_digest(payload) if version > 1 else weights_digest(payload["state_dict"])
    except Exception as err:  # a value no save would have written
        raise CheckpointError(f"{path} is damaged: {err}") from err
    if digest != payload["sha256"]:
        covered = "its contents" if version > 1 else "the weights"
        raise CheckpointError(
            f"{path} failed its checksum (stored {str(payload['sha256'])[:12]}..., {covered} "
            f"hash to {digest[:12]}...): the file was corrupted or edited after saving"
        )


def _config(payload: dict, path: Path, model: GPT | None) -> GPTConfig:
    """The stored config; with ``model``, also check that it is the model's."""
    try:
        config = GPTConfig.from_dict(payload["config"])
    except (TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path}: the stored model config is invalid: {err}") from err
    if model is not None and model.config != config:
        ours, theirs = model.config.to_dict(), config.to_dict()
        diffs = ", ".join(
            f"{k}: checkpoint {theirs[k]!r}, model {ours[k]!r}"
            for k in ours
            if ours[k] != theirs[k]
        )
        raise CheckpointError(f"{path} was saved from a different model config ({diffs})")
    return config


def _weights(payload: dict, path: Path, model: GPT) -> dict:
    """The stored weights under the current names, checked against ``model``'s names and shapes.

    Reads ``model`` (of the stored config) without changing it.
    """
    try:
        state_dict = model.upgrade_state_dict(payload["state_dict"])
    except (ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: {err}") from err
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: the weights do not fit the stored config (missing {missing}, "
            f"unexpected {unexpected})"
        )
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor) or tensor.shape != expected[name].shape:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
            raise CheckpointError(
                f"{path}: weight {name} has shape {shape}, the config needs "
                f"{tuple(expected[name].shape)}"
            )
    return state_dict


def load_checkpoint(
    path: str | Path, model: GPT | None = None, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Builds a new :class:`GPT` from the stored config, or, when ``model`` is
    given, loads the weights into it after checking that its config is the
    stored one. Raises :class:`CheckpointError` (a ``ValueError``) for a
    truncated or corrupted file, a file that is not a checkpoint of this
    package, a failed checksum, a damaged tokenizer, or a config mismatch
    naming the fields. Everything is checked before ``model`` is touched.
    """
    path = Path(path)
    payload = _read(path)
    _verify(payload, path)
    config = _config(payload, path, model)
    tokenizer = _tokenizer_from_dict(payload["tokenizer"], str(path))
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{config.vocab_size}"
        )
    extra = payload.get("extra", {})
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path}: extra is a {type(extra).__name__}, not a dict")
    model = GPT(config) if model is None else model
    model.load_state_dict(_weights(payload, path, model))
    model.to(device).eval()
    return Checkpoint(model, tokenizer, config, extra)


def shipped_checkpoint(name: str, folder: str | Path = "checkpoints", timeout: float = 60) -> Path:
    """The path of ``name``, one of the checkpoints in the repository's ``notebooks/checkpoints``.

    In a clone it is ``folder / name`` (``folder`` relative to the notebooks). Elsewhere
    (Colab, a pip install) it is downloaded once from the course's repository into the
    cache folder (``LLM101_CACHE_DIR``); :func:`load_checkpoint` then verifies it.
    """
    local = Path(folder) / name
    if local.exists():
        return local
    from llm101_helpers import GIT_URL
    from llm101_helpers.data import _write_atomically, cache_dir

    target = cache_dir() / "checkpoints" / name
    if not target.exists():
        import urllib.request

        url = f"{GIT_URL}/raw/main/notebooks/checkpoints/{name}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except OSError as err:
            raise OSError(f"{name} is not in {Path(folder).resolve()} and downloading it from "
                          f"{url} failed: {err}") from err  # fmt: skip
        _write_atomically(target, data)
    return target
