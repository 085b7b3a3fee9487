"""The error an unreadable index raises, in a module of its own: the format (index_format.py) and the ANN
file it holds (ann.py) both raise it, and the format imports the ANN module."""


class IndexFormatError(ValueError):
    """An index directory is unreadable: a missing or malformed manifest, files that disagree with it,
    or a checksum that does not match."""
