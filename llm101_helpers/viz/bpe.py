"""Byte-pair encoding made visible (notebook 02): how a text splits after k merges.

:func:`bpe_pieces_at` gives the pieces a text splits into when only the first
``k`` merges of a tokenizer are known; :func:`format_pieces` (plain text) and
:func:`pieces_html` (coloured, for widgets) show them; :func:`describe_merge`
says what merge ``k`` did. The slider over ``k`` is
:func:`llm101_helpers.viz.widgets.bpe_merge_stepper`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm101_helpers.tokenizers import BPETokenizer

__all__ = ["bpe_pieces_at", "describe_merge", "format_pieces", "pieces_html"]

#: Background colours that alternate between neighbouring tokens.
_PIECE_COLOURS = ("#cfe8fc", "#fde2c4", "#d7f5d3", "#f3d4f5")


def check_merge_count(tokenizer: BPETokenizer, num_merges: int, name: str = "num_merges") -> None:
    """Raise unless ``num_merges`` is in ``0..len(tokenizer.merges)`` (no negative wrap-around)."""
    total = len(tokenizer.merges)
    if not 0 <= num_merges <= total:
        raise ValueError(
            f"{name} must be in 0..{total} (the tokenizer has {total} merges), got {num_merges}"
        )


def bpe_pieces_at(tokenizer: BPETokenizer, text: str, num_merges: int) -> list[bytes]:
    """The pieces ``text`` splits into when only the first ``num_merges`` merges are known.

    ``num_merges=0`` gives single bytes; ``len(tokenizer.merges)`` gives what
    ``tokenizer.encode_ordinary`` gives. Needs a tokenizer whose byte ``b`` is
    id ``b`` (any tokenizer the course trains).
    """
    from llm101_helpers.tokenizers import BPETokenizer

    check_merge_count(tokenizer, num_merges)
    if any(tokenizer.ranks.get(bytes([b])) != b for b in range(256)):
        raise ValueError(
            "bpe_pieces_at needs byte b to be token b (a tokenizer the course trained)"
        )
    first = dict(list(tokenizer.merges.items())[:num_merges])
    partial = BPETokenizer.from_merges(first, tokenizer.pattern)
    return [partial.vocab[i] for i in partial.encode_ordinary(text)]


def format_pieces(pieces: Sequence[bytes], sep: str = "|") -> str:
    """Pieces joined by ``sep``; bytes that are not whole characters show as U+FFFD."""
    return sep.join(p.decode("utf-8", errors="replace") for p in pieces)


def pieces_html(pieces: Sequence[bytes]) -> str:
    """Pieces as HTML: each token on its own alternating background, spaces shown as ``·``."""
    spans = []
    for k, piece in enumerate(pieces):
        text = html.escape(piece.decode("utf-8", errors="replace"))
        text = text.replace(" ", "·").replace("\n", "↵<br>")
        colour = _PIECE_COLOURS[k % len(_PIECE_COLOURS)]
        spans.append(f'<span style="background:{colour};padding:0 1px">{text}</span>')
    return '<div style="font-family:monospace;line-height:1.9">' + "".join(spans) + "</div>"


def describe_merge(tokenizer: BPETokenizer, step: int) -> str:
    """One line about merge number ``step`` (1-based), or about the bytes when ``step`` is 0."""
    check_merge_count(tokenizer, step, "step")
    if step == 0:
        return "0 merges: every byte is its own token"
    (a, b), new_id = list(tokenizer.merges.items())[step - 1]

    def show(i: int) -> str:
        return repr(tokenizer.vocab[i].decode("utf-8", errors="replace"))

    return f"merge {step}: {show(a)} + {show(b)} -> {show(new_id)} (id {new_id})"
