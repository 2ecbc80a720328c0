"""The search query language, parsed with positions (docs/search.md).

    refund "call me back" cancel* agent:0a1b queue:"Billing – Tier 1" NOT phone:1555*
    (complaint OR dispute) dataset:transcript date:2025-03-01..2025-03-31

Words, "phrases", a ``*`` after a word or phrase for a prefix, AND (also implied between
terms), OR, NOT, parentheses, ``field:value`` and ``date:FIRST..LAST``. Operators are
upper case (``and`` is a word). A query is turned into the index's own expressions by
archiver.archive.queries.search; user text never reaches the index raw, and a query
that cannot be read raises :class:`QueryError` naming the position of the problem.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from archiver.datasets import UnknownDatasetError, resolve_name
from archiver.timerange import RangeError, floor_interval, parse_bound

#: Fields a term can be limited to, and what each finds (docs/search.md has the rule that
#: sorts each dataset's columns into them).
FIELDS: dict[str, str] = {
    "agent": "an agent's id or name",
    "queue": "a queue's id or name",
    "channel": "the channel or communication type (phone, chat, email, sms, voice…)",
    "phone": "a phone number, by its digits (+1 555 0100 is 15550100)",
    "email": "an e-mail address",
    "interaction": "an interaction id",
    "id": "any other id (call, transcript, session, workflow…)",
    "text": "the free text: messages, notes, names, labels, prompts, dispositions",
    "dataset": "the dataset a record belongs to (transcript, interactionSegments…)",
}
#: ``date:FIRST..LAST`` (or ``date:DAY``) limits the whole query to a UTC range.
DATE_FIELD = "date"
OPERATORS = ("AND", "OR", "NOT")
#: How deep parentheses and NOT may nest (each ``(`` and each NOT is a level): the index's
#: own parser has a small fixed stack (a query nested some 20 levels deep overflowed it, an
#: SQLite error), and Python's recursion a larger one. No real search comes near it.
MAX_NESTING = 10
#: The longest query, as a case's reason (services.cases): the query is kept whole in the
#: access log, and printed in the chain of custody of every later bundle.
MAX_LENGTH = 2000


class QueryError(ValueError):
    """A query that cannot be read: ``position`` (0-based) is where the problem is."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(f"{message} (at position {self.position + 1})")

    def pointer(self) -> str:
        """The query and a caret under the problem, for a terminal."""
        return f"{self.query}\n{' ' * self.position}^"


@dataclass(frozen=True)
class Term:
    """A word or phrase, maybe limited to a field, maybe a prefix."""

    text: str
    field: str | None
    prefix: bool
    phrase: bool
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node
    position: int


Node = Term | And | Or | Not


@dataclass(frozen=True)
class Query:
    """A parsed query: its expression and the UTC range ``date:`` gave (first and last
    15-minute interval, both included; None: no limit)."""

    text: str
    expr: Node
    first: datetime | None = None
    last: datetime | None = None

    def terms(self) -> list[Term]:
        out: list[Term] = []

        def walk(node: Node) -> None:
            if isinstance(node, Term):
                out.append(node)
            elif isinstance(node, Not):
                walk(node.item)
            else:
                for n in node.items:
                    walk(n)

        walk(self.expr)
        return out


# -- lexing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # word | phrase | ( | ) | op
    text: str
    position: int
    end: int
    field: str | None = None
    field_position: int = 0
    prefix: bool = False


_SPACE = re.compile(r"\s+")
_FIELD = re.compile(r"([A-Za-z]+):")
_BARE = re.compile(r'[^\s()"]+')


def searchable(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit (what the index is made of)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(query):
        space = _SPACE.match(query, i)
        if space:
            i = space.end()
            continue
        ch = query[i]
        if ch in "()":
            tokens.append(_Token(ch, ch, i, i + 1))
            i += 1
            continue
        field, field_at = None, i
        m = _FIELD.match(query, i)
        if m:
            name = m.group(1).lower()
            if name not in FIELDS and name != DATE_FIELD:
                raise QueryError(_unknown_field(name), query, i)
            field, i = name, m.end()
            if i >= len(query) or query[i].isspace() or query[i] in "()":
                raise QueryError(f"{name}: needs a value right after the colon", query, field_at)
        tokens.append(_value(query, i, field, field_at))
        i = tokens[-1].end
    return tokens


def _value(query: str, i: int, field: str | None, field_at: int) -> _Token:
    """A word or a phrase at ``i`` (after ``field:`` when there is one)."""
    if query[i] == '"':
        close = query.find('"', i + 1)
        if close < 0:
            raise QueryError("this phrase has no closing quote", query, i)
        end = close + 1
        prefix = query.startswith("*", end)
        end += prefix
        if end < len(query) and not query[end].isspace() and query[end] not in "()":
            raise QueryError("put a space after a closing quote", query, end)
        text = query[i + 1 : close]
        return _Token("phrase", text, i, end, field, field_at, prefix)
    m = _BARE.match(query, i)
    assert m is not None  # not a space, parenthesis or quote
    word = m.group(0)
    if field is None and word in OPERATORS:
        return _Token("op", word, i, m.end())
    if '"' == query[m.end() : m.end() + 1]:
        raise QueryError(
            "a quote inside a word: put the phrase in quotes of its own", query, m.end()
        )
    star = word.find("*")
    if star >= 0 and star != len(word) - 1:
        raise QueryError("* only ends a word (a prefix): cancel*", query, i + star)
    prefix = word.endswith("*")
    return _Token("word", word.rstrip("*"), i, m.end(), field, field_at, prefix)


def _unknown_field(name: str) -> str:
    names = [*FIELDS, DATE_FIELD]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]}:?" if close else ""
    return (
        f"unknown field {name}:.{hint} Fields: {', '.join(n + ':' for n in names)} "
        '(put a word with a colon in quotes: "10:30")'
    )


# -- parsing ------------------------------------------------------------------------------
class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        if len(query) > MAX_LENGTH:
            raise self.error(f"a query has at most {MAX_LENGTH} characters", MAX_LENGTH)
        self.tokens = _lex(query)
        self.at = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.depth = 0  # inside OR or NOT: date: applies to the whole query only
        self.nesting = 0  # inside how many ( and NOT: at most MAX_NESTING

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def parse(self) -> Query:
        if not self.tokens:
            raise self.error("the query is empty: type a word to look for", 0)
        expr = self.or_expr()
        tok = self.peek()
        if tok is not None:  # only a stray ')' stops an expression early
            raise self.error("this ) closes no (", tok.position)
        if expr is None:
            raise self.error("date: alone finds nothing: add a word to look for", 0)
        _check_positive(expr, self)
        return Query(self.query, expr, self.first, self.last)

    def or_expr(self) -> Node | None:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text == "OR":
            self.at += 1
            self.depth += 1
            right = self.and_expr(after=tok)
            self.depth -= 1
            items.append(right)
        if len(items) > 1 and any(i is None for i in items):
            raise self.error("date: applies to the whole query: put it outside OR", 0)
        kept = [i for i in items if i is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Or(tuple(kept))

    def and_expr(self, after: _Token | None = None) -> Node | None:
        items: list[Node | None] = []
        while (tok := self.peek()) is not None and not (tok.kind == ")" or tok.text == "OR"):
            if tok.kind == "op" and tok.text == "AND":
                self.at += 1
                if not items:
                    raise self.error("AND has nothing on its left", tok.position)
                nxt = self.peek()
                if nxt is None or nxt.kind == ")" or nxt.text in ("AND", "OR"):
                    raise self.error("AND has nothing on its right", tok.position)
                continue
            items.append(self.unary())
        if not items:
            where = after or self.peek()
            if where is not None and where.kind == "op":
                side = "right" if after is not None else "left"
                raise self.error(f"{where.text} has nothing on its {side}", where.position)
            raise self.error(
                "nothing to look for here", where.position if where else len(self.query)
            )
        kept = [i for i in items if i is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else And(tuple(kept))

    def nest(self, tok: _Token) -> None:
        """One more level of ( or NOT, refused beyond MAX_NESTING."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(
                f"parentheses and NOT are nested too deeply here (at most {MAX_NESTING} "
                "levels): write the query flatter",
                tok.position,
            )

    def unary(self) -> Node | None:
        tok = self.tokens[self.at]
        if tok.kind == "op" and tok.text == "NOT":
            self.at += 1
            nxt = self.peek()
            if nxt is None or nxt.kind == ")" or nxt.text in ("AND", "OR"):
                raise self.error("NOT has nothing on its right", tok.position)
            self.nest(tok)
            self.depth += 1
            item = self.unary()
            self.depth -= 1
            self.nesting -= 1
            if item is None:
                raise self.error("date: cannot be negated: give the range you want", tok.position)
            return Not(item, tok.position)
        if tok.kind == "(":
            self.at += 1
            self.nest(tok)
            inner = self.or_expr()
            self.nesting -= 1
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.error("this ( is not closed", tok.position)
            self.at += 1
            if inner is None:
                raise self.error(
                    "date: applies to the whole query: put it outside ( )", tok.position
                )
            return inner
        self.at += 1
        return self.term(tok)

    def term(self, tok: _Token) -> Term | None:
        if tok.kind == ")":  # pragma: no cover - and_expr stops before one
            raise self.error("this ) closes no (", tok.position)
        if tok.field == DATE_FIELD:
            self.date(tok)
            return None
        text = unicodedata.normalize("NFC", tok.text)
        if tok.field == "dataset":
            return Term(self.dataset(tok, text), "dataset", False, False, tok.field_position)
        if tok.field == "phone":
            digits = "".join(ch for ch in text if ch.isdigit())
            if not digits or any(ch.isalpha() for ch in text):
                raise self.error("phone: takes the digits of a number (+1 555 0100)", tok.position)
            text = digits
        if not searchable(text):
            what = "this phrase" if tok.kind == "phrase" else "this word"
            raise self.error(f"{what} holds no letter or digit to look for", tok.position)
        return Term(
            text,
            tok.field,
            tok.prefix,
            tok.kind == "phrase",
            tok.field_position if tok.field else tok.position,
        )

    def dataset(self, tok: _Token, text: str) -> str:
        if tok.prefix:
            raise self.error("dataset: takes a whole dataset name", tok.position)
        try:
            return resolve_name(text)
        except UnknownDatasetError as exc:
            raise self.error(str(exc), tok.position) from None

    def date(self, tok: _Token) -> None:
        if self.depth:
            raise self.error(
                "date: applies to the whole query: put it outside OR and NOT", tok.field_position
            )
        if self.first is not None or self.last is not None:
            raise self.error("date: is given twice: give one range", tok.field_position)
        first_text, sep, last_text = tok.text.partition("..")
        if not sep:
            last_text = first_text
        try:
            first = floor_interval(parse_bound(first_text, is_end=False, daily=False))
            last = floor_interval(parse_bound(last_text, is_end=True, daily=False))
        except RangeError as exc:
            raise self.error(f"date: {exc}", tok.position) from None
        if first > last:
            raise self.error("date: the range ends before it starts", tok.position)
        self.first, self.last = first, last


def _check_positive(expr: Node, parser: _Parser) -> None:
    """A query must look for something: a query made only of NOT … would list everything,
    and so would an OR with a NOT in it, or a group of NOTs, however deep in the query."""
    if isinstance(expr, Not):
        raise parser.error(
            "NOT only takes away: add a term to look for (refund NOT cancel)", expr.position
        )
    if isinstance(expr, And):
        kept = [i for i in expr.items if not isinstance(i, Not)]
        for item in kept or expr.items[:1]:  # all NOT: the first is refused
            _check_positive(item, parser)
    if isinstance(expr, Or):
        for alternative in expr.items:
            _check_positive(alternative, parser)


def parse(query: str) -> Query:
    """The query as an expression; :class:`QueryError` (with the position) if it cannot be
    read."""
    return _Parser(query).parse()
