"""The accounts registry: which AWS accounts are scanned, through which role, in which regions."""
