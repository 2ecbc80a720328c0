"""The exit codes of the ``archiver`` command, defined once: the code that returns them
imports these names, every command's ``--help`` lists its own (archiver.cli.exits), and
tests/core/test_docs.py checks the README's tables against both.

0, 1, 2 and 130 mean the same to every command. 3 and 4 are shared by commands for which
they mean different things, so each meaning has its own name (a name means one thing)."""

from __future__ import annotations

OK = 0
#: the command's work failed (the message names the first problem), or an unexpected error
FAILED = 1
#: a bad argument; the message names it (argparse's own errors exit 2 too)
USAGE = 2
#: pull: some chunks archived, others pending (202) or failed
PARTIAL = 3
#: export: nothing archived is in scope, so no bundle was written
EMPTY = 3
#: verify: the bundle is intact, but its signer (or a timestamp authority) is not trusted
UNTRUSTED = 3
#: search: the query found nothing
NO_HITS = 3
#: case add: every interaction named or found is in the case already, or the search found
#: none; the case is unchanged
NOTHING_ADDED = 3
#: verify: the bundle is intact, but its signer was revoked (and no trusted timestamp proves
#: the signature older than the revocation)
REVOKED = 3
#: pull: the API refused the client id and secret
AUTH = 4
#: export, keys: the signing key cannot be used (no passphrase, or the wrong one)
KEY_UNUSABLE = 4
#: pull: finished, but some datasets are not entitled for this tenant (403)
NOT_ENTITLED = 5
#: pull, index rebuild, retention apply: another pull (or a rebuild) holds the archive's lock; nothing was done
BUSY = 6
#: retention plan / apply: nothing is past retention (no schedule, or nothing due yet)
NOTHING_DUE = 3
#: retention apply: the archive changed since the plan was made (its id is stale): plan again
STALE_PLAN = 7
#: interrupted (Ctrl-C)
CANCELLED = 130
