"""The HTTP API (FastAPI). Routes are thin; domain services do the work."""
