"""The netorch command line: a thin adapter over netorch.service (the console script is
netorch.cli:main; see netorch.cli.app)."""

from netorch.cli.app import main

__all__ = ["main"]
