"""What each command's exit codes mean, as its ``--help`` lists them.

The numbers are archiver.exitcodes' (the code returns those names); the words are here, one
table per command. Every command also lists the codes any command can end with (1 on an
unexpected error, 2 on a usage error, 130 when interrupted) unless it says more about them.
tests/core/test_docs.py checks the README against these tables, and the tests' in-process
CLI helper checks every code a command returns against its table."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from archiver.exitcodes import (
    AUTH,
    BUSY,
    CANCELLED,
    EMPTY,
    FAILED,
    KEY_UNUSABLE,
    NO_HITS,
    NOT_ENTITLED,
    NOTHING_ADDED,
    NOTHING_DUE,
    OK,
    PARTIAL,
    STALE_PLAN,
    UNTRUSTED,
    USAGE,
)

ANY_COMMAND: tuple[tuple[int, str], ...] = (
    (FAILED, "an unexpected error: the message says what (--debug shows the traceback)"),
    (USAGE, "usage error: the message names the argument"),
    (CANCELLED, "interrupted (Ctrl-C)"),
)


@dataclass(frozen=True)
class ExitCodes:
    """One command's exit codes and what each means to it."""

    own: tuple[tuple[int, str], ...]
    #: codes of ANY_COMMAND this command cannot end with (simulate catches Ctrl-C: exit 0)
    never: frozenset[int] = frozenset()

    @property
    def meanings(self) -> dict[int, str]:
        found = dict(self.own)
        for code, text in ANY_COMMAND:
            if code not in self.never:
                found.setdefault(code, text)
        return dict(sorted(found.items()))

    @property
    def codes(self) -> frozenset[int]:
        return frozenset(self.meanings)

    def text(self, width: int = 78) -> str:
        """The help's closing section: a hanging list, wrapped to ``width``, never mid-word."""
        lines = ["exit codes:"]
        for code, meaning in self.meanings.items():
            lines += textwrap.wrap(
                meaning,
                width,
                initial_indent=f"  {code:<4} ",
                subsequent_indent=" " * 7,
                break_long_words=False,
                break_on_hyphens=False,
            )
        return "\n".join(lines)


PULL = ExitCodes(
    (
        (OK, "every chunk archived"),
        (
            FAILED,
            "error: no chunk could be archived (each failed chunk's reason is printed), or the "
            "archive cannot be opened or written (not an archive: a FIFO, a device, an empty "
            "or foreign file; a lock file that is not archiver's), or its disk is full, "
            "read-only or not writable by you (the message names the path and what to do; "
            "nothing archived is lost, a rerun resumes)",
        ),
        (USAGE, "usage error: the message says which argument"),
        (
            PARTIAL,
            "partial: some chunks archived, others pending (202) or failed; rerun the same "
            "command (failed chunks) or use --retry-pending (pending ones)",
        ),
        (AUTH, "authentication failed: check the client id and secret"),
        (NOT_ENTITLED, "finished, but some datasets are not entitled (403) for this tenant"),
        (
            BUSY,
            "archive busy: another pull (a scheduled one, or the desktop app's) holds the "
            'archive\'s lock; nothing was done ("archive busy: pull running since … (pid N)")',
        ),
        (CANCELLED, "cancelled (Ctrl-C); rerun the same command or use --resume"),
    )
)
LOGIN = ExitCodes(
    (
        (OK, "the secret is stored in the OS keyring"),
        (FAILED, "there is no usable OS keyring, or it refused the secret"),
        (USAGE, "usage error, or no client id or secret entered (nothing stored)"),
    )
)
VERIFY_ARCHIVE = ExitCodes(
    (
        (
            OK,
            "every checksum, chain and checkpoint agrees, and the replay derives what the archive states",
        ),
        (FAILED, "a mismatch, or a witness that cannot vouch: the first one is named"),
        (USAGE, "the archive cannot be read, or a malformed --expect-head"),
    )
)
CHECKPOINT = ExitCodes(
    (
        (OK, "the checkpoint is printed"),
        (USAGE, "the archive cannot be read"),
    )
)
#: exit 1 of a command that writes an output and records it in the archive
WRITE_REFUSED = (
    "the disk of the output or of the archive is full, read-only or not writable by you (the "
    "message names the path and what to do; nothing archived is lost, nothing is left "
    "behind), or an unexpected error"
)
BACKUP = ExitCodes(
    (
        (OK, "the backup is written"),
        (FAILED, WRITE_REFUSED),
        (
            USAGE,
            "the archive does not exist or cannot be read, or --out is refused (it exists, is "
            "one of the archive's files, a link, a FIFO or a device)",
        ),
    )
)
EXPORT_DATASET = ExitCodes(
    (
        (OK, "the file (or Parquet directory) is written"),
        (FAILED, WRITE_REFUSED),
        (
            USAGE,
            "usage error: a bad --from/--to, an --out that exists (without --overwrite), is "
            "of the wrong kind or one of the archive's files, an archive that cannot be read",
        ),
    )
)
COVERAGE = ExitCodes(
    (
        (OK, "the coverage is printed"),
        (USAGE, "usage error: a bad --from/--to or dataset, an archive that cannot be read"),
    )
)
EXPORT = ExitCodes(
    (
        (OK, "the bundle is written and signed"),
        (FAILED, WRITE_REFUSED),
        (
            USAGE,
            "usage error: a bad or inverted --from/--to, a time off the 15-minute marks, an "
            "unknown profile, an --out or DIR.zip refused (a file, a non-empty folder, a link, "
            "a FIFO, a device, one of the archive's files), a timestamp authority that fails, "
            "an archive that cannot be read; --case with --from/--to or a filter, no such "
            "case, --load-file without --case",
        ),
        (
            EMPTY,
            "nothing archived is in scope (or the case holds no interaction): no bundle is "
            "written (--allow-empty writes one that says so); said before any problem with the "
            "signing key",
        ),
        (
            KEY_UNUSABLE,
            "the signing key cannot be used (its passphrase: ARCHIVER_KEY_PASSPHRASE or the "
            "OS keyring)",
        ),
        (CANCELLED, "cancelled (Ctrl-C): nothing is left behind"),
    )
)
VERIFY = ExitCodes(
    (
        (OK, "verified, and the signer is trusted"),
        (
            FAILED,
            "failed: changed, damaged, refused, or signed by another than the expected signer",
        ),
        (USAGE, "usage error, or no such bundle"),
        (
            UNTRUSTED,
            "intact, but the signer (or a timestamp authority) is not trusted, or the signer "
            "was revoked (and no trusted timestamp proves the signature older)",
        ),
    )
)
TRUST_ADD = ExitCodes(
    (
        (OK, "the certificate is trusted"),
        (FAILED, "refused: not a certificate, or not one that can be trusted as asked"),
        (USAGE, "usage error: nothing or too much to add"),
    )
)
TRUST_LIST = ExitCodes(((OK, "the trusted certificates are listed"),))
TRUST_REMOVE = ExitCodes(
    (
        (OK, "the certificate is no longer trusted"),
        (FAILED, "no trusted certificate has that fingerprint"),
        (USAGE, "usage error: not a SHA-256 fingerprint"),
    )
)
TRUST_REVOKE = ExitCodes(
    (
        (OK, "the signer is revoked"),
        (FAILED, "no signer known here has that fingerprint, or it is revoked already"),
        (USAGE, "usage error: not a SHA-256 fingerprint, or no --reason"),
    )
)
KEYS_SHOW = ExitCodes(
    (
        (OK, "the signing key's certificate is shown"),
        (FAILED, "there is no signing key yet"),
    )
)
KEYS_CREATE = ExitCodes(
    (
        (OK, "the key is created"),
        (FAILED, "a signing key exists (--force replaces it and keeps the old one)"),
        (USAGE, "usage error: a --subject that is not a distinguished name with a CN"),
        (
            KEY_UNUSABLE,
            "no passphrase to protect the key with (no OS keyring, no ARCHIVER_KEY_PASSPHRASE)",
        ),
    )
)
KEYS_IMPORT = ExitCodes(
    (
        (OK, "the key is imported"),
        (FAILED, "a signing key exists (--force replaces it and keeps the old one)"),
        (USAGE, "usage error: no files named, a file that cannot be read"),
        (
            KEY_UNUSABLE,
            "the file cannot be used (wrong password, a certificate of another key), or no "
            "passphrase to protect the key with",
        ),
    )
)
KEYS_DESTROY_RETIRED = ExitCodes(
    (
        (OK, "the retired private keys are removed (or there were none)"),
        (FAILED, "a retired key was kept: its certificate is missing, or it could not be removed"),
    )
)
SELF_TEST = ExitCodes(
    (
        (OK, "every step passed"),
        (FAILED, "a step failed (named in its FAIL line)"),
        (USAGE, "usage error, or a --keep that exists (or is a link, a FIFO, a device)"),
    )
)
SCHEDULE_INSTALL = ExitCodes(
    (
        (OK, "installed (or printed, for another platform or with --dry-run)"),
        (FAILED, "systemctl failed (the message says what it answered)"),
        (
            USAGE,
            "refused: no datasets, no tenant or client id, no secret in the OS keyring, no "
            "--from for a dataset with nothing archived, a bad --at or --lookback",
        ),
    )
)
SCHEDULE_REMOVE = ExitCodes(
    (
        (OK, "removed (or there was nothing to remove)"),
        (FAILED, "systemctl or deleting a unit failed"),
    )
)
SCHEDULE_STATUS = ExitCodes(((OK, "the status is printed"),))
SEARCH = ExitCodes(
    (
        (OK, "hits found and listed"),
        (
            FAILED,
            "the search index does not cover the archive yet (run `archiver index rebuild`), "
            "or the search could not be recorded in the archive's access log (nothing shown)",
        ),
        (
            USAGE,
            "a query that cannot be read (the message points at the position of the problem), "
            "a bad --from/--to or --dataset, an archive that cannot be read",
        ),
        (NO_HITS, "the query found nothing"),
    )
)
INDEX_REBUILD = ExitCodes(
    (
        (OK, "the search index is rebuilt"),
        (FAILED, "the rebuild failed (the index stays as it was)"),
        (USAGE, "the archive does not exist or cannot be read"),
        (
            BUSY,
            "archive busy: a pull (or another rebuild) holds the archive's lock; nothing was done",
        ),
        (CANCELLED, "cancelled (Ctrl-C): the index stays as it was"),
    )
)
#: refused by a case or hold command: the message says why and what to do
_CASE_USAGE = (
    USAGE,
    "usage error: an empty name or reason, no such archive, an archive that cannot be read",
)
CASE_CREATE = ExitCodes(
    (
        (OK, "the case is created"),
        (FAILED, "refused: a case of that name exists (names are one whatever their case)"),
        _CASE_USAGE,
    )
)
CASE_ADD = ExitCodes(
    (
        (OK, "interactions added"),
        (
            FAILED,
            "refused: no such case, a closed case, interaction ids no archived record names "
            "(each is named), or the search could not run (index not up to date, access log "
            "not writable); nothing was added",
        ),
        (
            USAGE,
            "usage error: neither or both of --interaction and --search, a query that cannot be "
            "read (its position is named), a bad --from/--to, no such archive",
        ),
        (
            NOTHING_ADDED,
            "nothing added: every interaction named or found is in the case already, or the "
            "search found none",
        ),
    )
)
CASE_REMOVE = ExitCodes(
    (
        (OK, "the interaction is removed from the case"),
        (
            FAILED,
            "refused: no such case, the interaction is not in it, the case is closed or under "
            "legal hold",
        ),
        _CASE_USAGE,
    )
)
CASE_LIST = ExitCodes(((OK, "the cases are listed"), _CASE_USAGE))
CASE_SHOW = ExitCodes(
    (
        (OK, "the case is shown"),
        (FAILED, "no such case, or the access log could not be written (nothing shown)"),
        _CASE_USAGE,
    )
)
CASE_CLOSE = ExitCodes(
    (
        (OK, "the case is closed"),
        (FAILED, "refused: no such case, closed already, or under legal hold"),
        _CASE_USAGE,
    )
)
HOLD_PLACE = ExitCodes(
    (
        (OK, "the legal hold is placed"),
        (FAILED, "refused: no such case, a closed case, or a hold in place already"),
        _CASE_USAGE,
    )
)
HOLD_RELEASE = ExitCodes(
    (
        (OK, "the legal hold is released"),
        (FAILED, "refused: no such case, or no hold in place"),
        _CASE_USAGE,
    )
)
GUI = ExitCodes(
    (
        (OK, "the app was closed"),
        (FAILED, "the app cannot start here (no display, or Qt's system libraries missing)"),
        (USAGE, "--demo with --archive (the demo keeps its simulated data in its own folder)"),
    )
)
SIMULATE = ExitCodes(
    (
        (OK, "stopped with Ctrl-C"),
        (FAILED, "cannot listen on --host/--port"),
        (USAGE, "usage error: a bad --epoch or other argument"),
    ),
    never=frozenset({CANCELLED}),
)

_RETENTION_USAGE = (
    USAGE,
    "usage error: an unknown dataset or type, a malformed period, date or plan id, an empty "
    "--reason, or an archive that does not exist or cannot be read",
)
RETENTION_SET = ExitCodes(
    (
        (OK, "the schedule is recorded (a custody entry)"),
        (FAILED, "the archive could not be written; nothing changed"),
        _RETENTION_USAGE,
    )
)
RETENTION_SHOW = ExitCodes(
    (
        (OK, "the schedules (and past dispositions) are listed"),
        _RETENTION_USAGE,
    )
)
RETENTION_CLEAR = ExitCodes(
    (
        (OK, "the schedule is cleared: the dataset is kept forever (a custody entry)"),
        (FAILED, "refused: the dataset has no such schedule, or the archive could not be written"),
        _RETENTION_USAGE,
    )
)
RETENTION_PLAN = ExitCodes(
    (
        (OK, "the plan is printed with its id: something is past retention"),
        _RETENTION_USAGE,
        (NOTHING_DUE, "nothing is past retention (no schedule, or nothing due yet)"),
    )
)
RETENTION_APPLY = ExitCodes(
    (
        (OK, "the plan is disposed of, its certificate written beside the archive"),
        (
            FAILED,
            "the archive could not be written (nothing was disposed), or the certificate could "
            "not be written (the disposition is recorded; the message says so)",
        ),
        _RETENTION_USAGE,
        (NOTHING_DUE, "the plan disposes of nothing: nothing was done"),
        (KEY_UNUSABLE, "the signing key cannot be used (no passphrase, the wrong one, revoked)"),
        (BUSY, "a pull (or another disposition) holds the archive's lock; nothing was done"),
        (
            STALE_PLAN,
            "the plan is stale: the archive changed since it was made; plan again and apply "
            "the new id",
        ),
    )
)
VERIFY_CERTIFICATE = ExitCodes(
    (
        (OK, "verified: JSON, CMS signature and signed PDF agree, and the signer is trusted"),
        (FAILED, "failed: a file was changed, is missing, or was signed by another key"),
        (USAGE, "usage error, or not a certificate file"),
        (UNTRUSTED, "intact, but the signer is not trusted here, or was revoked"),
    )
)
