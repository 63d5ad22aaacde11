"""``python -m nlp``: see :mod:`nlp.cli`."""

import sys

from .cli import main

sys.exit(main())
