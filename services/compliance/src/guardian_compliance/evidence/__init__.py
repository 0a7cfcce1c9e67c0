"""Evidence as compliance sees it: items learnt from the evidence service's events, and what they prove."""
