"""Guardian reporting: dashboard, exports and the signed auditor package."""
