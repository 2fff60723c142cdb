"""The ``phananh`` command line."""
