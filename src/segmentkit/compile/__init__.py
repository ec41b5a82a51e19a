"""Backends: each compiles bound predicate primitives (``primitives.py``) for one target."""
