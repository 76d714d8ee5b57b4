"""One module per resource; each route declares its roles with ``allow(...)`` or ``public``."""
