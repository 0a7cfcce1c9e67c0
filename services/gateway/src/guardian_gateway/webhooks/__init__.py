"""Webhooks: subscriptions to domain events, signed (Standard Webhooks) at-least-once deliveries.

``consumer`` turns each domain event into one delivery row per matching subscription; ``worker``
sends due deliveries, retries them on a schedule of more than a day and disables a subscription
that keeps failing; ``guard`` refuses targets on private networks; ``router`` is the REST API.
"""
