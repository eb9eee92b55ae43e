"""netorch: intent-based network orchestration through Nornir."""

__version__ = "0.1.0"
