"""Pure models of netorch's inputs (intents, inventory) and of its desired state."""
