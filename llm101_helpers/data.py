"""Text the course trains on, and the training windows cut from it.

- ``load_poems()``: the course's own poetry corpus (CC0, see ``data/README.md``),
  shipped inside the package, so it works on Colab as well as in a checkout.
  In ``poems.txt`` each poem starts with a header ``=== Title | form | theme ===``
  followed by its lines; one empty line separates poems.
- ``load_corpus(name)``: public-domain Shakespeare (``sonnets``, ``tinyshakespeare``),
  downloaded on first use, checked against its SHA-256 and cached in
  ``LLM101_CACHE_DIR`` (default ``~/.cache/llm101``). ``LLM101_DATA_MIRROR``, a
  folder of ``<name>.txt`` files, replaces the network.
- ``SlidingWindowDataset`` and ``create_dataloader``: windows of token ids with
  next-token targets (the same window shifted by one).
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import os
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "ALLOWED_SPECIAL",
    "CACHE_ENV_VAR",
    "CORPORA",
    "MIRROR_ENV_VAR",
    "POEMS_FILE",
    "CorpusIntegrityError",
    "CorpusSource",
    "Poem",
    "SlidingWindowDataset",
    "SupportsEncode",
    "cache_dir",
    "create_dataloader",
    "download_corpus",
    "encode_text",
    "load_corpus",
    "load_poem_records",
    "load_poems",
    "parse_poems",
]

# ---------------------------------------------------------------------------
# The course's own poems
# ---------------------------------------------------------------------------

POEMS_FILE = "poems.txt"
_HEADER = re.compile(r"^=== (?P<title>[^|]+?) \| (?P<form>[^|]+?) \| (?P<theme>[^|]+?) ===$")


@dataclass(frozen=True)
class Poem:
    """One poem of the course corpus."""

    title: str
    form: str
    theme: str
    text: str  # the poem's lines, without the header, ending without a newline

    def __str__(self) -> str:
        return f"{self.title}\n\n{self.text}"


def _read_corpus_file() -> str:
    """Raw text of ``poems.txt``: from the installed package, else from the repository."""
    packaged = resources.files("llm101_helpers").joinpath("corpus", POEMS_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo_copy = Path(__file__).resolve().parent.parent / "data" / POEMS_FILE
    if repo_copy.is_file():
        return repo_copy.read_text(encoding="utf-8")
    raise FileNotFoundError(
        f"the course corpus {POEMS_FILE!r} was found neither in the installed package "
        f"({packaged}) nor in the repository ({repo_copy}); reinstall llm101-helpers"
    )


def parse_poems(raw: str) -> list[Poem]:
    """Split the corpus file format into ``Poem`` records (errors name the line)."""
    poems: list[Poem] = []
    header: re.Match[str] | None = None
    body: list[str] = []

    def finish() -> None:
        if header is None:
            return
        text = "\n".join(body).strip("\n")
        if not text:
            raise ValueError(f"poem {header['title']!r} has no lines")
        poems.append(Poem(header["title"], header["form"], header["theme"], text))

    for lineno, line in enumerate(raw.splitlines(), start=1):
        if line.startswith("==="):
            match = _HEADER.match(line)
            if match is None:
                raise ValueError(
                    f"line {lineno}: malformed poem header {line!r}; "
                    "expected '=== Title | form | theme ==='"
                )
            finish()
            header, body = match, []
        elif header is None:
            if line.strip():
                raise ValueError(f"line {lineno}: text before the first poem header: {line!r}")
        else:
            body.append(line)
    finish()
    return poems


@cache
def _poems() -> tuple[Poem, ...]:
    return tuple(parse_poems(_read_corpus_file()))


def load_poem_records() -> list[Poem]:
    """All poems of the course corpus as ``Poem(title, form, theme, text)`` records."""
    return list(_poems())


def load_poems() -> str:
    """The course corpus as one string: each poem's title, an empty line, its lines.

    Poems are separated by two empty lines (three newlines). This is the text
    the course's tokenizers and models train on.
    """
    return "\n\n\n".join(str(poem) for poem in _poems()) + "\n"


# ---------------------------------------------------------------------------
# Public-domain corpora on demand
# ---------------------------------------------------------------------------

MIRROR_ENV_VAR = "LLM101_DATA_MIRROR"
CACHE_ENV_VAR = "LLM101_CACHE_DIR"


@dataclass(frozen=True)
class CorpusSource:
    """Where a public-domain corpus comes from and what it must hash to."""

    url: str
    size: int
    sha256: str
    description: str


CORPORA: dict[str, CorpusSource] = {
    "sonnets": CorpusSource(
        url="https://raw.githubusercontent.com/aparrish/rwet-examples/master/sonnets.txt",
        size=97_044,
        sha256="49f89e5a080f2914f7020453692c9456218491db25ec48531283e7d06e1e9b22",
        description="Shakespeare's sonnets (public domain)",
    ),
    "tinyshakespeare": CorpusSource(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        size=1_115_394,
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        description="tiny shakespeare: 40,000 lines of Shakespeare's plays (public domain)",
    ),
}


class CorpusIntegrityError(RuntimeError):
    """A downloaded or mirrored corpus does not match its expected size or SHA-256."""


def cache_dir() -> Path:
    """Folder where downloaded corpora are kept.

    ``LLM101_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/llm101`` or ``~/.cache/llm101``.
    """
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "llm101"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(name: str, source: CorpusSource, timeout: float) -> tuple[bytes, str]:
    """Bytes of corpus ``name`` and where they came from (the mirror or the URL)."""
    mirror = os.environ.get(MIRROR_ENV_VAR)
    if mirror:
        path = Path(mirror).expanduser() / f"{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"{MIRROR_ENV_VAR} is set to {mirror!r}, but it holds no {path.name!r} "
                f"(expected {source.size:,} bytes with sha256 {source.sha256}, "
                f"as served by {source.url}); unset {MIRROR_ENV_VAR} to download it"
            )
        return path.read_bytes(), str(path)
    try:
        with urllib.request.urlopen(source.url, timeout=timeout) as response:
            return response.read(), source.url
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ConnectionError(
            f"could not download corpus {name!r} from {source.url}: {exc}. "
            f"On a machine without a network, set {MIRROR_ENV_VAR} to a folder holding "
            f"{name}.txt (sha256 {source.sha256})"
        ) from exc


def download_corpus(name: str, *, timeout: float = 60.0) -> Path:
    """Path to the cached, verified text file of a public-domain corpus.

    Downloads it (or copies it from ``LLM101_DATA_MIRROR``) on first use. The
    bytes are checked against the expected size and SHA-256 before they are
    written, and written atomically (a temporary file renamed into place), so a
    failed or corrupted download never leaves a file behind. A cached file that
    no longer matches its digest is fetched again.
    """
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}; available: {', '.join(sorted(CORPORA))}")
    source = CORPORA[name]
    target = cache_dir() / f"{name}.txt"
    if target.is_file() and _sha256(target.read_bytes()) == source.sha256:
        return target

    data, origin = _fetch(name, source, timeout)
    digest = _sha256(data)
    if len(data) != source.size or digest != source.sha256:
        raise CorpusIntegrityError(
            f"corpus {name!r} from {origin} failed its integrity check: got {len(data):,} bytes "
            f"with sha256 {digest}, expected {source.size:,} bytes with sha256 {source.sha256} "
            f"(source URL {source.url}); nothing was cached"
        )
    _write_atomically(target, data)
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, then rename it into place.

    The file is created with mode 0o666 less the process's umask, like any file
    ``open()`` creates. A cache folder that cannot be written raises an error
    naming the folder and ``LLM101_CACHE_DIR``.
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        denied = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        raise (PermissionError if denied else OSError)(
            f"cannot write to the corpus cache folder {target.parent} ({exc.strerror or exc}); "
            f"set {CACHE_ENV_VAR} to a folder you can write to"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_corpus(name: str) -> str:
    """Text of a public-domain corpus (see ``download_corpus``)."""
    return download_corpus(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# From a token stream to training examples: the sliding window
# ---------------------------------------------------------------------------

#: Special tokens a tokenizer may meet in the course's text (GPT-2's document separator).
ALLOWED_SPECIAL = frozenset({"<|endoftext|>"})


class SupportsEncode(Protocol):
    """Anything with ``encode(text) -> list[int]``: the course's tokenizers, tiktoken's Encoding."""

    def encode(self, text: str, /) -> list[int]: ...


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _special_tokens_of(tokenizer: SupportsEncode) -> set[str]:
    """The special-token strings a tokenizer knows (tiktoken's or the course's naming)."""
    specials = getattr(tokenizer, "special_tokens_set", None)  # tiktoken.Encoding
    if specials is None:
        specials = getattr(tokenizer, "special_tokens", ())  # the course's tokenizers: a dict
    return {s for s in specials if isinstance(s, str)}


def encode_text(text: str, tokenizer: SupportsEncode) -> list[int]:
    """``tokenizer.encode(text)``, with ``<|endoftext|>`` allowed as a special token.

    tiktoken's ``Encoding.encode`` (and the course's tokenizers, which follow
    it) raise on special-token text unless it is listed in ``allowed_special``.
    ``<|endoftext|>`` is allowed when the tokenizer knows it and its ``encode``
    takes that argument; any other tokenizer is called with the text alone.
    """
    allowed = ALLOWED_SPECIAL & _special_tokens_of(tokenizer)
    try:
        params = inspect.signature(tokenizer.encode).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        params = {}
    if allowed and "allowed_special" in params:
        return list(tokenizer.encode(text, allowed_special=set(allowed)))
    return list(tokenizer.encode(text))


def _as_token_ids(ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """``ids`` as a CPU tensor of int64, refusing floats and bools instead of truncating them."""
    name = type(ids).__name__
    kind = {"Tensor": "a tensor", "ndarray": "a NumPy array"}.get(name, f"a {name}")
    values = torch.as_tensor(ids).cpu()
    dtype = values.dtype
    if values.numel() and (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool):
        raise TypeError(
            f"token ids must be integers, got {kind} of dtype {dtype} (first value "
            f"{values.flatten()[0].item()!r}); floats and bools are refused, not truncated to ids"
        )
    return values.long()


class SlidingWindowDataset(Dataset):
    """Next-token training examples cut from one long sequence of token ids.

    Example ``i`` is the window of ``context_length`` ids starting at
    ``start = i * stride`` (the input) and the same window shifted one token to
    the right (the target): ``target[t]`` is the token that follows
    ``input[t]``, so one window teaches ``context_length`` predictions at once::

        ids:      a b c d e f g h i j        context_length=4, stride=3
        input 0:  a b c d                    target 0:  b c d e
        input 1:        d e f g              target 1:        e f g h
        (input 2 would need g h i j plus k for its target: not enough ids)

    A window needs ``context_length + 1`` ids (its inputs and the one extra target),
    so there are ``(len(ids) - context_length - 1) // stride + 1`` windows. **The
    last, partial window is dropped**: ids after the last full window that
    cannot fill another one are never used as inputs (with ``stride <=
    context_length`` at most ``stride - 1`` ids at the end are lost). A sequence
    shorter than ``context_length + 1`` ids raises ``ValueError``.

    ``stride < context_length`` makes windows overlap (more, correlated examples);
    ``stride == context_length`` tiles the text exactly once; ``stride >
    context_length`` skips tokens.
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, context_length: int, stride: int) -> None:
        _check_positive(context_length=context_length, stride=stride)
        ids = _as_token_ids(ids)
        if ids.dim() != 1:
            raise ValueError(f"token ids must be one flat sequence, got shape {tuple(ids.shape)}")
        if len(ids) < context_length + 1:
            raise ValueError(
                f"the text is {len(ids)} tokens long, shorter than one window: context_length="
                f"{context_length} needs at least {context_length + 1} tokens (inputs plus the "
                "next-token target); use a longer text or a smaller context_length"
            )
        self.ids = ids  # (N,)
        self.context_length = context_length
        self.stride = stride

    def __len__(self) -> int:
        return (len(self.ids) - self.context_length - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"window {index} out of range for a dataset of {n} windows")
        start = index * self.stride
        x = self.ids[start : start + self.context_length]  # (T,)
        y = self.ids[start + 1 : start + self.context_length + 1]  # (T,) shifted by one
        return x, y

    def __repr__(self) -> str:
        return (
            f"SlidingWindowDataset({len(self)} windows of context_length={self.context_length}, "
            f"stride={self.stride}, over {len(self.ids)} tokens)"
        )


def create_dataloader(
    text_or_ids: str | Sequence[int] | torch.Tensor,
    tokenizer: SupportsEncode | None = None,
    context_length: int = 256,
    stride: int = 128,
    batch_size: int = 4,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A ``DataLoader`` of ``(inputs, targets)`` batches, each ``(batch_size, context_length)``.

    ``text_or_ids`` is either a string, encoded with ``tokenizer`` (anything
    with ``.encode(text)``; tiktoken's ``Encoding`` is allowed
    ``<|endoftext|>``), or token ids already (a list or a 1-D tensor; then
    ``tokenizer`` is not needed). See ``SlidingWindowDataset`` for how windows
    are cut and what happens to the last, partial one.

    Shuffling uses its own generator seeded with ``seed``, so the order of
    batches is the same on every run and does not disturb (or depend on) the
    global random state. ``drop_last=True`` drops a final batch smaller than
    ``batch_size``.
    """
    _check_positive(context_length=context_length, stride=stride, batch_size=batch_size)
    if isinstance(text_or_ids, str):
        if tokenizer is None:
            raise ValueError("text was given without a tokenizer; pass tokenizer=... to encode it")
        ids = encode_text(text_or_ids, tokenizer)
    else:
        ids = text_or_ids
    dataset = SlidingWindowDataset(ids, context_length=context_length, stride=stride)
    if drop_last and len(dataset) < batch_size:
        raise ValueError(
            f"the text gives {len(dataset)} windows, fewer than one batch of batch_size="
            f"{batch_size}, and drop_last=True would drop them all; use a longer text, a "
            "smaller batch_size or stride, or drop_last=False"
        )
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        generator=generator,
        num_workers=num_workers,
    )
