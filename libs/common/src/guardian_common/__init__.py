"""Guardian's shared contracts (events) and plumbing (settings, database, NATS, auth, errors)."""
