"""The tamper-evident audit log: every service's entries chained by hash, read, verified, exported."""
