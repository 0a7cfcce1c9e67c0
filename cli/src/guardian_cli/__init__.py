"""The guardian command line."""
