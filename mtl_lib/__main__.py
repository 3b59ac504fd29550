"""``python -m mtl_lib``: the command line (see :mod:`mtl_lib.cli`)."""

import sys

from mtl_lib.cli import main

sys.exit(main())
