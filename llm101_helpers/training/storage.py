"""How a checkpoint is stored: plain values only, one digest over all of it, atomic writes.

* :func:`check_storable` accepts what ``torch.load(weights_only=True)`` reads
  back as it was saved: ``None``, ``bool``, ``int``, ``float``, ``str``,
  lists, tuples and ``str``-keyed dicts of those, and plain CPU/GPU tensors.
  Anything else (a NumPy scalar, a ``Path``, a dataclass) is refused with its
  key path and type, before a byte is written.
* :func:`payload_digest` is a SHA-256 over a canonical, type-tagged encoding
  of the whole payload (every key, string, number and tensor byte), so any
  change to what a loader would return changes the digest.
* :func:`atomic_save` writes to a temporary file beside the target, flushes
  and fsyncs it, then renames it over the target: a reader sees the old file
  or the complete new one, never a partial one (also on Ctrl-C).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_save", "check_storable", "payload_digest", "weights_digest"]

_SCALARS = (type(None), bool, int, float, str)

_HINTS = {
    "numpy": "convert it with .item() (a scalar) or torch.as_tensor (an array)",
    "pathlib": "store str(path)",
}


def check_storable(value: Any, where: str = "extra") -> None:
    """Raise ``TypeError`` naming the first part of ``value`` a checkpoint cannot store."""
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind in (list, tuple):
        for i, item in enumerate(value):
            check_storable(item, f"{where}[{i}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; "
                    "a checkpoint stores dicts with str keys only"
                )
            check_storable(item, f"{where}[{key!r}]")
        return
    if kind is torch.Tensor and value.layout == torch.strided and not value.is_quantized:
        return
    module = kind.__module__.split(".")[0]
    hint = _HINTS.get(module, "store plain numbers, strings, lists, dicts or tensors instead")
    raise TypeError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}, which a checkpoint cannot store "
        f"(it would not load with torch.load(weights_only=True)); {hint}"
    )


def _feed(h: Any, value: Any) -> None:
    """Feed ``value`` to the hash ``h`` in a canonical, type-tagged, length-prefixed form."""
    kind = type(value)
    if value is None or kind is bool:
        h.update({None: b"N", True: b"T", False: b"F"}[value])
    elif kind is int:
        h.update(b"i%d;" % value)
    elif kind is float:
        h.update(b"f" + struct.pack(">d", value))
    elif kind is str:
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif kind in (list, tuple):
        h.update(b"%s%d[" % (b"l" if kind is list else b"t", len(value)))
        for item in value:
            _feed(h, item)
    elif kind is dict:
        h.update(b"d%d{" % len(value))
        for key in sorted(value):  # str keys (checked by check_storable at save)
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().resolve_conj().resolve_neg().contiguous()
        h.update(f"tensor:{t.dtype}:{tuple(t.shape)}:{value.requires_grad};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        raise TypeError(f"cannot hash a {kind.__name__}")


def payload_digest(payload: dict) -> str:
    """SHA-256 (hex) of everything in ``payload`` except its ``"sha256"`` entry."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """Version 1's SHA-256: over the weights only (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` via a temporary file in the same folder and a rename.

    On any error (or Ctrl-C) the temporary file is removed and ``path`` keeps
    its old content. The new file gets the usual permissions (``0o666`` less
    the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # claim the name
        # torch.save gets the path, not a Python file: its C++ writer then owns the file, and a
        # Ctrl-C cannot close the file under it (writing to a closed Python file from the C++
        # side aborts the whole process).
        torch.save(obj, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        interrupt = _keyboard_interrupt(err)
        if interrupt is not None and interrupt is not err:
            raise interrupt from None  # torch.save turns Ctrl-C into a RuntimeError: undo that
        raise
    _fsync_folder(path.parent)
    return path


def _keyboard_interrupt(err: BaseException | None) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` that ``err`` was raised while handling, if any."""
    while err is not None and not isinstance(err, KeyboardInterrupt):
        err = err.__context__
    return err


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX; not Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
