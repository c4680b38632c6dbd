"""Example projects that use stepml (not part of the library)."""
