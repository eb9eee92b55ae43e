"""python -m netorch: the netorch command line."""

import sys

from netorch.cli import main

sys.exit(main())
