"""Persistence: SQLAlchemy models, engine/session factory and repository functions."""
