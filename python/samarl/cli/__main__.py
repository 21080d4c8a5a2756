"""``python -m samarl.cli``: the same as the ``samarl`` command."""

import sys

from samarl.cli import main

sys.exit(main())
