"""The archsearch version, kept in one place for run records and export specs."""

__version__ = "0.1.0"
