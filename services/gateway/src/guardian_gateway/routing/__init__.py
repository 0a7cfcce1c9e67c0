"""Which service answers which request, and the one OpenAPI document of them all."""
