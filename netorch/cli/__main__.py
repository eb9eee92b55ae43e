"""python -m netorch.cli: the netorch command line, as python -m netorch."""

import sys

from netorch.cli.app import main

sys.exit(main())
