"""``python -m neureus``: the command line (``python -m neureus --help``)."""

import sys

from neureus._cli import main

if __name__ == "__main__":
    sys.exit(main())
