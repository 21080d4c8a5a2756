"""``python -m samarl.cli`` (or ``python -m samarl``): the same as the ``samarl`` command."""

import sys

from samarl.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    sys.exit(main())
