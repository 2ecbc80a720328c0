"""The operating system's side of archiver: plumbing with no archive and no use case in it.

- :mod:`.lock`: one pull at a time per archive (an OS file lock on ``<archive>.lock``)
- :mod:`.schedule`: the daily unattended pull as systemd units, a launchd agent or a Task
  Scheduler command

The use cases that need them (:mod:`archiver.services.pull` takes the lock and records a
takeover in the archive; :mod:`archiver.services.schedule` checks the keyring and the
archive before installing, and reads the last unattended run) sit above, in
``archiver.services``; front-ends call those.
"""
