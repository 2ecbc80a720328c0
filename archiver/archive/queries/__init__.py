"""Reading an archive: every question the app, the command line and the exports ask of it.

This package and the write store (:mod:`archiver.archive.store` and its writers) are the
one home of SQL: nothing outside ``archiver.archive`` imports sqlite3 (an import-linter
contract). A question is a function of a :class:`~.reader.Source` (a read-only
:class:`~.reader.Reader`, or the writer's :class:`~archiver.archive.store.Archive` when the
writer itself asks) and answers with plain values and dataclasses, never cursors or rows:
that is the seam a server-backed team archive will plug into next.

The modules are named for what they answer:

- :mod:`.browse`: dataset streams, columns, record windows and ids, a row's versions, a
  stream's archived span
- :mod:`.interactions`: interactions by id or text, counted, their segments and trace steps
- :mod:`.audit`: the audit log, unfinished runs, chain heads, the last unattended run
- :mod:`.coverage`: what the archive shows it holds, per dataset and day
- :mod:`.bundle`: an audit bundle's scope: rows, names, custody and the archive's facts
- :mod:`.warehouse`: a dataset stream's rows for ``export-dataset``
- :mod:`.pulls`: what a pull plans from (runs, chunks) and how it ended (counts)
- :mod:`.review`: :class:`~.review.ArchiveReader`, the review screens' connection
"""
