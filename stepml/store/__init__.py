"""The artifact store (a local directory or ``s3://bucket/prefix``), step locks, and the model registry."""

from stepml.core.layout import join
from stepml.store.objects import LocalStore, S3Store, Stat, Store, open_store

__all__ = ["LocalStore", "S3Store", "Stat", "Store", "join", "open_store"]
