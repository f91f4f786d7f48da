"""deadletter commands (being written)."""
