"""Guardian evidence: documents that back procedural controls, stored immutably and reviewed."""
