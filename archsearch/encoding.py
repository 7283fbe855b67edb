"""Decoding of user text files, with errors that name the line of the first invalid byte."""

from __future__ import annotations


def decode_utf8(data: bytes, name: str, fix: str, *, encoding: str = "utf-8") -> str:
    """Return ``data`` decoded as UTF-8, or raise a ValueError naming the line of the first invalid byte.

    Args:
        data: The file's bytes.
        name: How the message names the file, for example ``"architecture file cells.txt"``.
        fix: What the user should do, appended to the message.
        encoding: ``"utf-8"``, or ``"utf-8-sig"`` to also accept a byte-order mark.

    Raises:
        ValueError: If ``data`` is not valid UTF-8.

    Example:
        >>> decode_utf8(b"caf\\xc3\\xa9\\n", "notes.txt", "save it as UTF-8")
        'café\\n'
    """
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{name}, line {line}: byte 0x{data[error.start]:02x} is not valid UTF-8; {fix}") from None
