"""Record identity: the one definition the writer, verify-archive and migrations share.

A record is identified by its content (dataset, dataset type, SHA-256 of its canonical
JSON): identical records dedupe. Versions of one row are grouped by a *key*, chosen per
stream (dataset + dataset type) from these candidates, first that holds:

1. ``ROW_ID`` whenever the page's columnHeaders carry it (the guide's common field);
2. the registry's natural key (``Dataset.key``) where ROW_ID is absent;
3. the record's canonical SHA-256 (every distinct record its own row).

A candidate that repeats with *different content inside one response* is not a key: the
stream falls back to the next candidate for that page and every later page, and the
archive records the fallback (table ``key_rules``). Because the rule depends only on the
pages in archive order, verify-archive recomputes it from the raw pages alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256

from archiver.archive.hashing import canonical_records
from archiver.datasets import DATASETS, Dataset
from archiver.timerange import row_interval

ROW_ID = "ROW_ID"
NATURAL = "natural"
HASH = "hash"
#: Key rules, most preferred first.
RULES = (ROW_ID, NATURAL, HASH)
#: Joins the values of a multi-column key (the API never emits U+001F).
SEP = "\x1f"


@dataclass(frozen=True)
class Identity:
    """Everything the archive derives from one API record."""

    key: str
    kind: str  # ROW_ID | natural | hash
    natural_key: str  # the registry key's value ('' when absent, or when that key is ROW_ID)
    commit_ts: str
    canon: str  # canonical JSON of the record (what records.values_json holds)
    sha256: str  # of canon, UTF-8
    interval: str  # YYYYMMDDHHmm of the row's own time column ('' unknown); daily: YYYYMMDD
    row_date: str  # ROW_DATE_UTC ('' when absent)


@dataclass(frozen=True)
class Fallback:
    """A key rule found not to be a key on one page."""

    rule: str
    fallback: str
    reason: str


class PageKeyer:
    """Computes the identities of one page's records for its stream."""

    def __init__(self, dataset: str, dataset_type: str, names: Sequence[str]) -> None:
        self.dataset = dataset
        self.dataset_type = dataset_type
        self.names = list(names)
        ds: Dataset | None = DATASETS.get(dataset)
        idx = {n: i for i, n in enumerate(self.names)}
        self._rowid = idx.get("ROW_ID")
        natural = ds.key if ds else ()
        # a registry key that is ROW_ID itself adds nothing: natural_key stays ''
        self._natural: tuple[int, ...] | None = (
            tuple(idx[c] for c in natural)
            if natural and natural != ("ROW_ID",) and all(c in idx for c in natural)
            else None
        )
        self._ts = idx.get("COMMIT_TS")
        self._date = idx.get("ROW_DATE_UTC")
        time_col = ds.time_column if ds else "STARTTIME_UTC"
        self._time = idx.get(time_col, idx.get("STARTTIME_UTC"))

    def candidates(self) -> list[str]:
        """Rules whose columns this page carries, most preferred first."""
        out = []
        if self._rowid is not None:
            out.append(ROW_ID)
        if self._natural is not None:
            out.append(NATURAL)
        out.append(HASH)
        return out

    def _key(self, values: Sequence[str], rule: str) -> str:
        if rule == ROW_ID:
            return values[self._rowid]  # type: ignore[index]
        if rule == NATURAL:
            return SEP.join(values[i] for i in self._natural or ())
        raise ValueError(rule)

    def natural_key(self, values: Sequence[str]) -> str:
        if self._natural is None:
            return ""
        return SEP.join(values[i] for i in self._natural)

    def choose(
        self, records: Sequence[Sequence[str]], digests: Sequence[str], abandoned: Iterable[str]
    ) -> tuple[str, list[Fallback]]:
        """The rule for this page, and the rules it proves are not keys (new fallbacks).

        ``abandoned``: rules the stream already gave up on earlier pages.
        """
        gone = set(abandoned)
        proven: list[tuple[str, str]] = []  # (rule, reason) found not to be a key here
        chosen = HASH
        for rule in self.candidates():
            if rule == HASH:
                break
            if rule in gone:
                continue
            repeat = self._repeat(records, digests, rule)
            if repeat is None:
                chosen = rule
                break
            proven.append((rule, repeat))
        return chosen, [Fallback(rule, chosen, why) for rule, why in proven]

    def _repeat(
        self, records: Sequence[Sequence[str]], digests: Sequence[str], rule: str
    ) -> str | None:
        """Why ``rule`` is not a key on this page, or None when it holds."""
        seen: dict[str, str] = {}
        for values, digest in zip(records, digests, strict=True):
            k = self._key(values, rule)
            if seen.setdefault(k, digest) != digest:
                col = "ROW_ID" if rule == ROW_ID else "+".join(_natural_names(self.dataset))
                return f"{col} value {k[:60]!r} repeats with different content in one response"
        return None

    def interval(self, values: Sequence[str]) -> str:
        """A row's own interval alone, as :meth:`identity` finds it (no key, no hashing)."""
        when = values[self._time] if self._time is not None else ""
        if self.dataset_type == "daily":
            day = values[self._date][:10] if self._date is not None else ""
            return (day or when[:10]).replace("-", "")[:8]
        return row_interval(when) if when else ""

    def identity(self, values: Sequence[str], rule: str, canon: str, digest: str) -> Identity:
        key = digest if rule == HASH else self._key(values, rule)
        when = values[self._time] if self._time is not None else ""
        day = values[self._date][:10] if self._date is not None else ""
        if self.dataset_type == "daily":
            interval = (day or when[:10]).replace("-", "")[:8]
        else:
            interval = row_interval(when) if when else ""
        return Identity(
            key,
            rule,
            self.natural_key(values),
            values[self._ts] if self._ts is not None else "",
            canon,
            digest,
            interval,
            day,
        )


def _natural_names(dataset: str) -> tuple[str, ...]:
    ds = DATASETS.get(dataset)
    return ds.key if ds else ()


def canon_and_digests(
    names: Sequence[str], records: Sequence[Sequence[str]]
) -> tuple[list[str], list[str]]:
    """Canonical JSON and SHA-256 of each record (the records table's values and checksums)."""
    canons = canonical_records(names, records)
    return canons, [sha256(c.encode()).hexdigest() for c in canons]


def page_identities(
    dataset: str,
    dataset_type: str,
    names: Sequence[str],
    records: Sequence[Sequence[str]],
    abandoned: Iterable[str],
    canon: tuple[list[str], list[str]] | None = None,
) -> tuple[list[Identity], str, list[Fallback]]:
    """Identities of every record of one page, the rule used and any new fallbacks;
    ``canon``: the page's :func:`canon_and_digests` when already computed."""
    keyer = PageKeyer(dataset, dataset_type, names)
    canons, digests = canon or canon_and_digests(names, records)
    rule, fallbacks = keyer.choose(records, digests, abandoned)
    ids = [keyer.identity(v, rule, c, d) for v, c, d in zip(records, canons, digests, strict=True)]
    return ids, rule, fallbacks


def effective_key(
    abandoned: set[str] | frozenset[str], kind: str, key: str, natural: str, digest: str
) -> tuple[str, str]:
    """(kind, key) that groups a record's versions under the stream's current rule.

    A record written under a rule the stream later abandoned is regrouped under the next
    rule that holds (its natural key, else its own hash), so a fallback found late never
    hides records written before it.
    """
    if kind not in abandoned:
        return kind, key
    if kind == ROW_ID and NATURAL not in abandoned and natural:
        return NATURAL, natural
    return HASH, digest
