"""Domain model: state machines and errors, free of HTTP and database code."""
