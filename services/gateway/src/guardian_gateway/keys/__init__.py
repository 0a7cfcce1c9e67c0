"""API keys owned by the gateway: created by admins, shown once, stored hashed, revocable."""
