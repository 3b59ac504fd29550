"""``python -m mtl_lib.data.leaf prepare|grid``: see :mod:`mtl_lib.data.leaf.cli`."""

import sys

from mtl_lib.data.leaf.cli import main

sys.exit(main())
