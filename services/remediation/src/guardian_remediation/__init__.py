"""Guardian remediation: the Action Centre's planned, approved and verified fixes."""
