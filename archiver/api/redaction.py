"""Our credentials out of what a server says: every bearer token this process was issued
and every client secret it sent are replaced by ``[redacted]`` where server text enters
the client (api/client.py), before anything prints, logs, stores or renders it.

A server (or a proxy in front of it) may echo the ``Authorization`` header or the token
request back: in an error's detail, a 5xx body, a 202, a ``Location`` header, even a page.
Nothing that follows in archiver can tell such text from any other, so the client cleans
every response once, on arrival, and everything downstream sees only the clean bytes.

The client's token provider remembers each token it is issued and the client secret it
uses (:func:`remember`) in one set per process, :data:`PROCESS`, so a token from an earlier
run of a long-lived app is still recognised in a later one. A credential is found as it is
and as a JSON string or a URL would carry it (escaped, percent-encoded). Shorter ones than
:data:`MIN_LENGTH` are not searched for: replacing every ``abc`` in the evidence would
destroy it and protect nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

MARK = "[redacted]"
#: credentials shorter than this are not searched for (see the module's docstring)
MIN_LENGTH = 8


def _forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a response: as is, inside a JSON string (escaped
    as Python, Go or any JSON encoder writes it) and inside a URL."""
    plain = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        plain,
        json.dumps(secret)[1:-1],
        plain.replace("/", "\\/"),
        plain.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
        quote(secret, safe=""),
        quote_plus(secret),
    }
    return {f for f in forms if len(f) >= MIN_LENGTH}


@dataclass(frozen=True)
class Redacted:
    """A response that held our credentials: what was received, by its SHA-256 and size,
    and how many credentials were replaced in the bytes kept."""

    sha256: str
    size: int
    replaced: int


class Redactor:
    """The credentials to look for, and the replacing. Thread-safe: workers read while the
    token provider adds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._text: list[str | re.Pattern[str]] = []
        self._bytes: list[bytes | re.Pattern[bytes]] = []

    def __repr__(self) -> str:  # never the secrets themselves
        return f"Redactor({len(self._secrets)} credentials)"

    def remember(self, secret: str) -> None:
        """Look for ``secret`` from now on (tokens when issued, the client secret when used)."""
        if len(secret) < MIN_LENGTH or secret in self._secrets:
            return
        with self._lock:
            self._secrets.add(secret)
            forms = {f for s in self._secrets for f in _forms(s)}
            self._text = _text_patterns(forms)
            self._bytes = _byte_patterns(forms)

    def text(self, text: str) -> str:
        """``text`` with every credential replaced by ``[redacted]``."""
        for pattern in self._text if text else ():
            if isinstance(pattern, str):
                text = text.replace(pattern, MARK)
            else:
                text = pattern.sub(MARK, text)
        return text

    def data(self, raw: bytes) -> tuple[bytes, int]:
        """``raw`` with every credential replaced, and how many were (0: ``raw`` itself)."""
        total = 0
        for pattern in self._bytes if raw else ():
            if isinstance(pattern, bytes):
                if pattern in raw:
                    total += raw.count(pattern)
                    raw = raw.replace(pattern, _MARK_BYTES)
            else:
                raw, n = pattern.subn(_MARK_BYTES, raw)
                total += n
        return raw, total

    def clean(self, raw: bytes) -> tuple[bytes, Redacted | None]:
        """``raw`` with every credential replaced, and (when any was) what was received."""
        clean, n = self.data(raw)
        if not n:
            return raw, None
        return clean, Redacted(hashlib.sha256(raw).hexdigest(), len(raw), n)


_MARK_BYTES = MARK.encode()


#: a group of forms sharing a prefix at least this big is one regular expression
_GROUP = 4


def _groups(forms: set[str]) -> list[list[str]]:
    """The forms by their first three characters, longest first."""
    groups: dict[str, list[str]] = {}
    for form in sorted(forms, key=len, reverse=True):
        groups.setdefault(form[:3], []).append(form)
    return list(groups.values())


def _text_patterns(forms: set[str]) -> list[str | re.Pattern[str]]:
    return [
        re.compile("|".join(map(re.escape, g))) if len(g) >= _GROUP else f
        for g in _groups(forms)
        for f in (g if len(g) < _GROUP else g[:1])
    ]


def _byte_patterns(forms: set[str]) -> list[bytes | re.Pattern[bytes]]:
    """Each form as bytes, searched for with ``in`` (CPython's fast search skips ahead by
    up to a token's length), or, for a group of forms that share a prefix (tokens of one
    issuer: a JWT's ``eyJ``), one alternation the regex engine factors and scans for its
    literal prefix: a hundred tokens then cost about one search, not a hundred."""
    return [
        re.compile(b"|".join(re.escape(x.encode("utf-8")) for x in g))
        if len(g) >= _GROUP
        else f.encode("utf-8")
        for g in _groups(forms)
        for f in (g if len(g) < _GROUP else g[:1])
    ]


#: every token issued to this process and every client secret it used
PROCESS = Redactor()


def remember(secret: str) -> None:
    PROCESS.remember(secret)


def redact(text: str) -> str:
    """``text`` with every credential this process holds replaced by ``[redacted]``."""
    return PROCESS.text(text)
