"""``python -m minilm_np``: the same as the ``minilm-np`` command."""

import sys

from .cli import main

sys.exit(main())
