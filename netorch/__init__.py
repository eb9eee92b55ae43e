"""netorch: intent-based network orchestration through Nornir."""

from importlib.metadata import PackageNotFoundError, version

try:
    #: the installed distribution's version: setuptools-scm takes it from the git tag at build time
    __version__ = version("netorch")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.1.0"
