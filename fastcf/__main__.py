"""``python -m fastcf``: the fastcf command line (see fastcf.cli)."""

import sys

from fastcf.cli import main

if __name__ == "__main__":
    sys.exit(main())
