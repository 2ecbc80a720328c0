"""The ``archiver`` command line: a thin layer over the core services."""
