"""The readable, checksummed text format tokenizers are saved in.

A file is a ``<kind> <version>`` header line (``llm101-bpe 1``), the
tokenizer's lines, and a last line ``sha256 <hex>`` over everything before it,
so a truncated or edited file fails to load instead of silently changing
behaviour. Every problem raises :class:`TokenizerFileError` naming the file
(or the string's source) and, where it can, the line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SAVE_FORMAT_VERSION = 1


class TokenizerFileError(ValueError):
    """A tokenizer file (or string) that is not a valid save of this kind of tokenizer."""


def dump_checked(kind: str, lines: list[str]) -> str:
    """``lines`` after a ``<kind> <version>`` header and before the sha256 line."""
    body = "".join(line + "\n" for line in [f"{kind} {SAVE_FORMAT_VERSION}", *lines])
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return body + f"sha256 {digest}\n"


def write_checked(path: str | Path, kind: str, lines: list[str]) -> None:
    """Write :func:`dump_checked`'s text to ``path``."""
    Path(path).write_text(dump_checked(kind, lines), encoding="utf-8", newline="\n")


def read_checked(path: str | Path, kind: str) -> list[str]:
    """The lines of the file at ``path`` between its header and its checksum, both checked."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenizerFileError(
            f"{path} is not a {kind} file: it is not UTF-8 text (byte "
            f"0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded), so it is "
            "binary or was damaged"
        ) from None
    return parse_checked(text, kind, str(path))


def parse_checked(text: str, kind: str, source: str) -> list[str]:
    """The lines of ``text`` between its header and its checksum, both checked.

    ``source`` names the text in error messages (a path, or e.g. ``"<string>"``).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as reading in text mode does
    first, _, _ = text.partition("\n")
    parts = first.split(" ")
    if len(parts) != 2 or parts[0] != kind:
        raise TokenizerFileError(
            f"{source} is not a {kind} file: its first line is {first[:80]!r}, "
            f"expected '{kind} {SAVE_FORMAT_VERSION}'"
        )
    if parts[1] != str(SAVE_FORMAT_VERSION):
        raise TokenizerFileError(
            f"{source} uses {kind} format version {parts[1]!r}; this version of llm101_helpers "
            f"reads version {SAVE_FORMAT_VERSION}"
        )
    body, sep, last = text.rstrip("\n").rpartition("\n")
    if not sep or not last.startswith("sha256 "):
        raise TokenizerFileError(
            f"{source} is truncated or damaged: its last line should be the 'sha256 ...' "
            f"checksum, found {last[:80]!r}"
        )
    expected = last.removeprefix("sha256 ").strip()
    actual = hashlib.sha256((body + "\n").encode("utf-8")).hexdigest()
    if actual != expected:
        raise TokenizerFileError(
            f"{source} failed its checksum (file says {expected}, content hashes to {actual}): "
            "it was edited or corrupted after saving; re-save it from the tokenizer"
        )
    return body.split("\n")[1:]


class LineReader:
    """Reads the sections of a save file in order; errors name the source and the line."""

    def __init__(self, source: str, lines: list[str]) -> None:
        self.source, self.lines, self.pos = source, lines, 0

    def error(self, message: str, line: int | None = None) -> TokenizerFileError:
        """An error about the line read last (the header is line 1 of the file)."""
        line = self.pos + 1 if line is None else line
        return TokenizerFileError(f"{self.source}, line {line}: {message}")

    def next(self) -> str:
        if self.pos >= len(self.lines):
            raise self.error("unexpected end of file")
        self.pos += 1
        return self.lines[self.pos - 1]

    def keyword(self, key: str) -> str:
        """The rest of the next line, which must start with ``key``."""
        line = self.next()
        name, _, rest = line.partition(" ")
        if name != key:
            raise self.error(f"expected '{key} ...', found {line[:80]!r}")
        return rest

    def json_string(self, key: str) -> str:
        """The JSON string after ``key`` on the next line."""
        rest = self.keyword(key)
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, str):
            raise self.error(f"expected '{key} <JSON string>', found {rest[:80]!r}")
        return value

    def count(self, key: str) -> int:
        rest = self.keyword(key)
        if not (rest.isascii() and rest.isdigit()):
            raise self.error(f"expected a count after {key!r}, found {rest!r}")
        return int(rest)

    def fields(self, n: int) -> list[str]:
        """The first ``n`` space-separated fields of the next line (a ``#`` comment may follow)."""
        line = self.next()
        found = line.split("  #", 1)[0].split()
        if len(found) != n:
            raise self.error(f"expected {n} fields, found {line[:80]!r}")
        return found

    def ints(self, n: int) -> list[int]:
        """The next line's first ``n`` fields, which must be non-negative integers."""
        found = self.fields(n)
        if not all(f.isascii() and f.isdigit() for f in found):
            raise self.error(f"expected {n} non-negative integers, found {found}")
        return [int(f) for f in found]

    def id_and_json(self) -> tuple[int, str]:
        """An ``<id> <JSON string>`` line."""
        line = self.next()
        idx, _, payload = line.partition(" ")
        try:
            value = json.loads(payload)
        except json.JSONDecodeError:
            value = None
        if not (idx.isascii() and idx.isdigit()) or not isinstance(value, str):
            raise self.error(f"expected '<id> <JSON string>', found {line[:80]!r}")
        return int(idx), value

    def done(self) -> None:
        if self.pos != len(self.lines):
            extra = self.lines[self.pos][:80]
            raise self.error(f"unexpected extra content {extra!r}", line=self.pos + 2)


def render(token: bytes) -> str:
    """Printable form of a token: ``' the'``, or ``b'\\xe2'`` for bytes that are not valid UTF-8."""
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)
