"""``python -m neuroadapt`` is the ``neuroadapt`` command."""

import sys

from neuroadapt.cli import main

sys.exit(main())
