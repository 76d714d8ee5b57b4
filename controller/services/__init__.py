"""Domain services: they take a Session and keyword-only arguments and know nothing of HTTP."""
