"""Reusable test infrastructure: moto server, fault proxy, PostgreSQL and NATS."""
