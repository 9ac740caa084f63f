"""Tokenizers: turn text into integer ids and back.

- ``word``: :class:`WordTokenizer` (notebook 01), one id per word or punctuation
  mark, split by :data:`WORD_SPLIT_PATTERN`; unseen words become ``<|unk|>``.
- ``bpe``: byte-level :class:`BPETokenizer` (notebook 02), the same ids as
  tiktoken (``BPETokenizer.from_tiktoken(tiktoken.get_encoding("gpt2"))``),
  and :func:`naive_train`, the direct training loop it is tested against.
- ``bpe_training``: the two training steps :func:`get_pair_counts` and
  :func:`merge_pair`, and the fast trainer behind ``BPETokenizer.train``.
- ``split_pattern``: :data:`GPT2_SPLIT_PATTERN`, GPT-2's pre-tokenization regex.
- ``char``: :class:`CharTokenizer`, one id per character (notebook 10).
- ``special``: tiktoken's special-token rules (``<|endoftext|>``) and the
  checks every ``encode``/``decode`` shares.
- ``save_format``: the readable, checksummed text files of ``save``/``load``
  (and ``dumps``/``loads``); a bad file raises :class:`TokenizerFileError`.

Regular expressions use the third-party ``regex`` package (installed with
tiktoken): the GPT-2 pattern needs Unicode classes such as ``\\p{L}``.
"""

from llm101_helpers.tokenizers.bpe import BPETokenizer, naive_train
from llm101_helpers.tokenizers.bpe_training import get_pair_counts, merge_pair
from llm101_helpers.tokenizers.char import CharTokenizer
from llm101_helpers.tokenizers.save_format import TokenizerFileError
from llm101_helpers.tokenizers.special import ENDOFTEXT, UNK
from llm101_helpers.tokenizers.split_pattern import GPT2_SPLIT_PATTERN
from llm101_helpers.tokenizers.word import WORD_SPLIT_PATTERN, UnknownWordError, WordTokenizer

__all__ = [
    "ENDOFTEXT",
    "GPT2_SPLIT_PATTERN",
    "UNK",
    "WORD_SPLIT_PATTERN",
    "BPETokenizer",
    "CharTokenizer",
    "TokenizerFileError",
    "UnknownWordError",
    "WordTokenizer",
    "get_pair_counts",
    "merge_pair",
    "naive_train",
]
