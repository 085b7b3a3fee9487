"""The ``minilm-np`` command line: main.py parses, commands.py calls the library, output.py prints,
plot.py draws (matplotlib, optional). Nothing here computes what the library does not."""

from .main import main

__all__ = ["main"]
