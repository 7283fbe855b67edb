"""Lookup errors of ground-truth sources.

Both classes subclass ``KeyError`` so that ``except KeyError`` catches a missing key as it
does for a dict. Invalid arguments (an unknown dataset, a split that the dataset does not
have, an invalid cell string) raise ``ValueError`` instead.
"""

from __future__ import annotations


class _MessageKeyError(KeyError):
    # KeyError's str() is the repr of its argument, which wraps the message in quotes.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ArchitectureNotFoundError(_MessageKeyError):
    """The source has no results for this (valid) architecture."""


class ResultNotFoundError(_MessageKeyError):
    """The source lists the architecture but has no value for this dataset, split and training length."""
