"""``python -m neuroadapt`` is the ``neuroadapt`` command."""

import sys

from .cli import main

sys.exit(main())
