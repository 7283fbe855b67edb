"""Unlabelled text for transformer students: passages from a file or a built-in corpus, as token batches.

Passage sources:

- A user text file (UTF-8). If it contains a blank line, each block of lines between blank
  lines is one passage (paragraph form) and its lines are joined with spaces. Otherwise each
  non-blank line is one passage. ``split="lines"`` or ``split="paragraphs"`` forces a form.
- ``None`` (the default): the English help texts of Python's own ``pydoc_data.topics``
  module, which ships with CPython, so no download is needed. Each topic is cut into
  paragraphs, and headings, indented code or grammar blocks and paragraphs of fewer than
  ``DEFAULT_CORPUS_MIN_WORDS`` words are left out, so the passages are prose.

Example:
    >>> from archsearch.hf_teachers import load_hf_teacher
    >>> teacher = load_hf_teacher("hf:/models/all-MiniLM-L6-v2")
    >>> batches = load_text_batches(teacher.tokenizer, sequence_length=32, batch_size=8, max_batches=2)
    >>> batches[0].input_ids.shape
    torch.Size([8, 32])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from archsearch.encoding import decode_utf8

DEFAULT_CORPUS = "pydoc_data.topics"
DEFAULT_CORPUS_MIN_WORDS = 5
SPLIT_FORMS = ("auto", "lines", "paragraphs")

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_UNDERLINE = re.compile(r"[*=\-~^\"#+]{3,}")


@dataclass
class TextBatch:
    """One batch of tokenised text with a fixed sequence length.

    Attributes:
        input_ids: Token ids, ``batch x sequence_length``, dtype long.
        attention_mask: 1 for real tokens and 0 for padding, the same shape as ``input_ids``.

    Example:
        >>> batch = TextBatch(torch.tensor([[101, 7592, 102], [101, 102, 0]]),
        ...                   torch.tensor([[1, 1, 1], [1, 1, 0]]))
        >>> batch.batch_size, batch.sequence_length
        (2, 3)
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.input_ids.dim() != 2:
            raise ValueError(f"input_ids must be batch x sequence_length, got shape {tuple(self.input_ids.shape)}")
        if self.attention_mask.shape != self.input_ids.shape:
            raise ValueError(f"attention_mask has shape {tuple(self.attention_mask.shape)}, but input_ids has "
                             f"{tuple(self.input_ids.shape)}; they must match")
        if self.input_ids.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"input_ids must be integer token ids, got dtype {self.input_ids.dtype}")
        if self.input_ids.shape[0] < 2:
            raise ValueError(f"a scoring batch needs at least 2 sequences, got {self.input_ids.shape[0]}")

    @property
    def batch_size(self) -> int:
        return self.input_ids.shape[0]

    @property
    def sequence_length(self) -> int:
        return self.input_ids.shape[1]

    def to(self, device: torch.device | str) -> "TextBatch":
        return TextBatch(self.input_ids.to(device), self.attention_mask.to(device))


def load_passages(path: str | Path | None = None, *, split: str = "auto", min_words: int = 1) -> list[str]:
    """Read passages from a text file, or from ``pydoc_data.topics`` when ``path`` is ``None``.

    Whitespace inside a passage is collapsed to single spaces. The file form and the default
    corpus are described in the module docstring.

    Args:
        path: A UTF-8 text file, or ``None`` for the built-in corpus.
        split: ``"auto"``, ``"lines"`` or ``"paragraphs"``; only used for files.
        min_words: Passages with fewer whitespace-separated words are left out.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``path`` is a folder, is not UTF-8 text, or has no passage of at
            least ``min_words`` words, or if ``split`` or ``min_words`` is invalid.

    Example:
        >>> passages = load_passages()
        >>> len(passages) > 1000
        True
    """
    if split not in SPLIT_FORMS:
        raise ValueError(f"unknown split {split!r}; valid forms: {', '.join(SPLIT_FORMS)}")
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
        raise ValueError(f"min_words must be a positive integer, got {min_words!r}")

    if path is None:
        passages = _default_corpus_passages()
        source = f"the built-in corpus {DEFAULT_CORPUS}"
    else:
        text = _read_text_file(Path(path).expanduser())
        passages = _split_text(text, split)
        source = f"text file {str(path)!r}"

    long_enough = [passage for passage in passages if len(passage.split()) >= min_words]
    if not long_enough:
        raise ValueError(f"{source} has no passage of at least {min_words} word(s); pass a file with text, one "
                         "passage per line or paragraphs separated by blank lines")
    return long_enough


def tokenize_passages(passages: Sequence[str], tokenizer: Any, *, sequence_length: int = 128, batch_size: int = 8,
                      max_batches: int | None = None) -> list[TextBatch]:
    """Tokenise ``passages`` in order into batches of ``batch_size`` sequences of ``sequence_length`` tokens.

    Each passage is truncated or padded to ``sequence_length`` tokens, special tokens
    included. Passages left over after the last full batch are dropped, so every batch has
    the same shape.

    Args:
        passages: The texts, one per sequence.
        tokenizer: A Hugging Face tokenizer, usually the teacher's.
        sequence_length: Tokens per sequence.
        batch_size: Sequences per batch, at least 2.
        max_batches: Stop after this many batches; ``None`` keeps every full batch.

    Raises:
        ValueError: If an option is invalid, there are fewer passages than ``batch_size``,
            or the tokenizer has no padding token.
    """
    _check_positive("sequence_length", sequence_length)
    _check_positive("batch_size", batch_size)
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, because similarity scores compare sequences, "
                         f"got {batch_size}")
    if max_batches is not None:
        _check_positive("max_batches", max_batches)
    if len(passages) < batch_size:
        raise ValueError(f"{len(passages)} passage(s) cannot fill one batch of {batch_size}; use a smaller "
                         "batch_size or more text")
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no padding token, so sequences cannot be padded "
                         "to one length; set tokenizer.pad_token first")

    count = len(passages) // batch_size
    if max_batches is not None:
        count = min(count, max_batches)
    batches = []
    for index in range(count):
        chunk = list(passages[index * batch_size:(index + 1) * batch_size])
        encoded = tokenizer(chunk, padding="max_length", truncation=True, max_length=sequence_length,
                            return_tensors="pt")
        batches.append(TextBatch(encoded["input_ids"].long(), encoded["attention_mask"].long()))
    return batches


def load_text_batches(tokenizer: Any, path: str | Path | None = None, *, split: str = "auto", min_words: int = 1,
                      sequence_length: int = 128, batch_size: int = 8,
                      max_batches: int | None = None) -> list[TextBatch]:
    """Read passages with ``load_passages`` and tokenise them with ``tokenize_passages``.

    Example:
        >>> batches = load_text_batches(tokenizer, "notes.txt", sequence_length=64, batch_size=4)
    """
    passages = load_passages(path, split=split, min_words=min_words)
    return tokenize_passages(passages, tokenizer, sequence_length=sequence_length, batch_size=batch_size,
                             max_batches=max_batches)


def _read_text_file(path: Path) -> str:
    if path.is_dir():
        raise ValueError(f"text path {str(path)!r} is a folder; pass a UTF-8 text file with one passage per line "
                         "or paragraphs separated by blank lines")
    if not path.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} not found; pass the path of a UTF-8 text file, or no path "
                                f"for the built-in corpus {DEFAULT_CORPUS}")
    return decode_utf8(path.read_bytes(), f"text file {str(path)!r}", "convert it to UTF-8")


def _split_text(text: str, split: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if split == "auto":
        split = "paragraphs" if _BLANK_LINE.search(text.strip()) else "lines"
    pieces = _BLANK_LINE.split(text) if split == "paragraphs" else text.split("\n")
    passages = [" ".join(piece.split()) for piece in pieces]
    return [passage for passage in passages if passage]


def _default_corpus_passages() -> list[str]:
    from pydoc_data.topics import topics

    passages = []
    for name in sorted(topics):
        for paragraph in _BLANK_LINE.split(topics[name].replace("\r\n", "\n")):
            words = paragraph.split()
            if len(words) >= DEFAULT_CORPUS_MIN_WORDS and _is_prose(paragraph):
                passages.append(" ".join(words))
    return passages


def _is_prose(paragraph: str) -> bool:
    lines = [line for line in paragraph.split("\n") if line.strip()]
    if not lines:
        return False
    # Code examples and grammar rules are indented; a heading is a line over an underline.
    if lines[0].startswith((" ", "\t")):
        return False
    return not any(_UNDERLINE.fullmatch(line.strip()) for line in lines)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
