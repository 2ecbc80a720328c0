"""Use cases: the only API the CLI and the GUI call (Electrum's commands.py is the model).

Each use case does the work and writes its own custody entry in the archive's audit log,
so a cron run and a GUI run of the same operation leave the same record. Front-ends parse
input, call one of these and present the result; they never assemble core calls.

- :mod:`.pull`: the pull job (range, incremental, resume, retry pending): lock, plan, run,
  checkpoint
- :mod:`.archive`: verify-archive, backup, export-dataset, coverage
- :mod:`.bundles`: export and verify signed audit bundles
- :mod:`.keys`: the signing key
- :mod:`.checkpoints`: the checkpoint every pull, verify-archive and export ends with, and
  ``archiver checkpoint``
- :mod:`.schedule`: unattended daily archiving (the OS side is :mod:`archiver.system`)
- :mod:`.selftest`: the whole evidence path, offline
"""
