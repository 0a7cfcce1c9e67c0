"""Guardian gateway: the single entry point in front of the services."""
