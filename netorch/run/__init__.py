"""The run level: the engine (plan, apply, rollback), transactions, rollouts, recovery,
revisions, drift checks over many devices, and their reports."""
