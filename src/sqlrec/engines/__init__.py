"""Execution engines. Only this package (and publish) opens files or database connections."""
