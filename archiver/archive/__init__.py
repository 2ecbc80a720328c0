"""The evidence store: one SQLite file, written by :mod:`.store` (one writer) and read
through :mod:`.queries`. SQL lives here and nowhere else; callers catch the archive's own
failures, :data:`StorageError` and :data:`UnreadableArchive` (:mod:`.errors`)."""

from archiver.archive.errors import NotAnArchive, StorageError, UnreadableArchive

__all__ = ["NotAnArchive", "StorageError", "UnreadableArchive"]
