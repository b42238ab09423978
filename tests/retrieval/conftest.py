"""Fixtures of the store tests that run on both backends (see tests/retrieval/store_backends.py)."""

from tests.retrieval.store_backends import any_store_factory, backend

__all__ = ["any_store_factory", "backend"]
