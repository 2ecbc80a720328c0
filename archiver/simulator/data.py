"""Deterministic synthetic data for the simulator, generated lazily per (dataset, bucket).

A *bucket* is one 15-minute interval (or one day, for daily aggregates of metric
datasets). Everything is derived from ``sha256(seed | ...)`` so the same seed gives the
same rows on every machine, and nothing is generated until a query touches its bucket.
Interactions link datasets: an interaction's segments (interactionSegments), its workflow
session's steps (workflowTrace), its CDR (mpccdr) and its transcript all share its
INTERACTION_ID.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Lock
from typing import Any
from zoneinfo import ZoneInfo

from archiver.datasets import DATASETS, Dataset

INTERVAL = timedelta(minutes=15)
DAY = timedelta(days=1)

FIRST_NAMES = [
    "José",
    "Zoë",
    "François",
    "Åsa",
    "Björn",
    "Siobhán",
    "Nguyễn",
    "María José",
    "Ólafur",
    "Chloé",
    "Łukasz",
    "Renée",
    "Mary-Kate",
    "D'Andre",
    "Anaïs",
    "Jürgen",
    "Dvořák",
    "Ana",
    "Wei",
    "Priya",
    "Kwame",
    "Olu",
    "Émile",
    "Sean",
]
LAST_NAMES = [
    "Álvarez",
    "Müller",
    "O'Brien",
    "Dubois",
    "Nørgaard",
    "García-López",
    "Smith, Jr.",
    "van der Berg",
    "Kowalski",
    "Ndiaye",
    "Søndergaard",
    "Zhang",
    "Patel",
    "Nakamura",
    "Ó Súilleabháin",
    "Ünal",
]
CJK_NAMES = ["李娜", "王伟", "田中 太郎", "김민준", "佐藤 花子", "陈静"]
QUEUE_NAMES = [
    "Billing – Tier 1",
    "Soporte Técnico",
    "日本語サポート",
    'Claims, Disputes & "Escalations"',
    "Retention",
    "Sales EMEA",
    "Fraud & Security",
    "Service Clientèle",
    "VIP Concierge",
    "Collections",
    "Tech Support L2",
    "General Enquiries",
]
WORKFLOW_NAMES = [
    "Main IVR",
    "Billing Self-Service",
    "Chat Bot – Triage",
    "After Hours",
    "Callback Offer",
]
CHANNELS = ["phone", "chat", "email", "sms"]
COMM_TYPES = {"phone": "voice", "chat": "chat", "email": "email", "sms": "chat"}
NOTES = [
    'Customer said "cancel it, now" and asked for a supervisor',
    "=SUM(A1:A9)",
    "+1 555 0100 called back about the refund",
    "-- escalated to tier 2 --",
    "@supervisor please review this call",
    'Line one of the note\nLine two, with a comma, and a "quote"',
    "Réclamation : facture erronée ✓ — remboursement accordé",
    "顧客は返金を要求しました。確認済み。",
    "Tab\tseparated\tvalues in a note",
    "",
    "Payment plan agreed; next review in 30 days",
    '=HYPERLINK("http://example.invalid","click")',
]
SUBJECTS = [
    "Billing question",
    "Password reset",
    "Order status",
    "Complaint",
    "Address change",
    "Refund request",
    "Technical issue",
    "Cancellation",
]
TAGS = ["vip", "complaint", "callback", "repeat-caller", "gdpr", "upsell"]
STATUS_TYPES = {
    "Q Login": ["Available", "On Call"],
    "busy": ["Lunch", "Break", "Training", "Meeting"],
}
STEP_TYPES = [
    ("PlayMessage", "Play a message", "Welcome"),
    ("GetInput", "Collect DTMF or speech input", "Main menu"),
    ("Condition", "Branch on a condition", "Business hours?"),
    ("SetVariable", "Set a workflow variable", "Set language"),
    ("DataDip", "Look up customer record", "CRM lookup"),
    ("RouteToQueue", "Route the interaction to a queue", "Route to agent"),
]
PROMPTS = [
    "Welcome to Example Corp. Calls may be recorded.",
    "For billing press 1, for support press 2.",
    "Bienvenue ! Pour le français, dites « français ».",
    "お電話ありがとうございます。",
]


def _h(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def _hexid(prefix: str, *parts: object, length: int = 26) -> str:
    return prefix + _h(*parts).hex()[: length - len(prefix)]


def iso_z(dt: datetime, ms: bool = False) -> str:
    """UTC ISO 8601 with a Z suffix, as the API writes datetimes (dt must be UTC)."""
    if ms:
        return dt.isoformat(timespec="milliseconds")[:23] + "Z"
    return dt.isoformat(timespec="seconds")[:19] + "Z"


def _hms(ms: int) -> str:
    """Milliseconds as the API's FORMATTED_HISTORYITEM_DURATION, e.g. 00:00:05.000."""
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


@dataclass
class Agent:
    id: str
    name: str
    email: str
    tags: str
    tz: str


@dataclass
class Queue:
    id: str
    name: str


@dataclass
class Interaction:
    id: str
    start: datetime
    channel: str
    queue: Queue
    customer: str
    phone: str
    email: str
    notes: str
    subject: str
    tags: str
    segments: list[dict[str, str]] = field(default_factory=list)
    trace: list[dict[str, str]] = field(default_factory=list)


@dataclass
class LateUpdate:
    """A control-call re-issue: a share of rows committed before ``at`` gets a new version."""

    generation: int
    datasets: frozenset[str]
    share: float
    at: datetime


class _GeneratedBuckets:
    """Generated buckets shared by every DataModel of the process, the least recently used
    dropped beyond ``max_rows`` rows. A bucket's rows are a pure function of the key (seed,
    rows per interval, time zone, shared ids, dataset, bucket), so simulators started one
    after another (every test starts its own) generate each bucket once. Rows are never
    changed in place (a late update copies the row), so sharing them is safe."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._rows = 0
        self._buckets: OrderedDict[tuple[object, ...], list[dict[str, str]]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[object, ...]) -> list[dict[str, str]] | None:
        with self._lock:
            rows = self._buckets.get(key)
            if rows is not None:
                self._buckets.move_to_end(key)
            return rows

    def put(self, key: tuple[object, ...], rows: list[dict[str, str]]) -> None:
        with self._lock:
            if key in self._buckets or len(rows) > self.max_rows:
                return
            self._buckets[key] = rows
            self._rows += len(rows)
            while self._rows > self.max_rows:
                _, dropped = self._buckets.popitem(last=False)
                self._rows -= len(dropped)


#: about 1.8 kB a row: at most some 70 MB
_GENERATED = _GeneratedBuckets(max_rows=40_000)


class DataModel:
    """All synthetic data of one seed. Thread-safe; caches recently generated buckets."""

    def __init__(
        self,
        seed: int = 1,
        rows_per_interval: int = 75,
        timezone: str = "America/New_York",
        cache_buckets: int = 512,
        shared_ids: bool = False,
    ) -> None:
        self.seed = seed
        #: One row per transcript message and one cxAgentLoginLogout ID per login session,
        #: so ids repeat within a response (``--shared-ids``).
        self.shared_ids = shared_ids
        self.rows_per_interval = max(1, rows_per_interval)
        try:
            self.tz = ZoneInfo(timezone)
        except Exception:  # no tz database: fall back to UTC rather than fail
            self.tz = ZoneInfo("UTC")
        self.account_id = _hexid("001d", seed, "account")
        rnd = random.Random(_h(seed, "entities"))
        self.agents = []
        for i in range(40):
            if i % 7 == 3:
                name = CJK_NAMES[i % len(CJK_NAMES)]
            else:
                name = f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}"
            email = f"agent{i:02d}@example.invalid"
            tags = ",".join(
                sorted(
                    rnd.sample(
                        ["team-alpha", "team-beta", "support", "sales", "french", "japanese"], 2
                    )
                )
            )
            tz = rnd.choice(["America/New_York", "Europe/Paris", "Asia/Tokyo", "UTC"])
            self.agents.append(Agent(_hexid("002d", seed, "agent", i), name, email, tags, tz))
        self.queues = [
            Queue(_hexid("003d", seed, "queue", i), n) for i, n in enumerate(QUEUE_NAMES)
        ]
        self.workflows = [
            (
                _hexid("004d", seed, "wf", i),
                n,
                _hexid("005d", seed, "wfv", i),
                f"{1 + i % 3}.{i % 4}",
            )
            for i, n in enumerate(WORKFLOW_NAMES)
        ]
        self.late_updates: list[LateUpdate] = []
        self._cache: OrderedDict[tuple[object, ...], list[dict[str, str]]] = OrderedDict()
        self._cache_size = cache_buckets
        self._lock = Lock()

    # -- late updates ---------------------------------------------------------------------
    def add_late_update(self, datasets: list[str] | None, share: float, at: datetime) -> int:
        with self._lock:
            gen = len(self.late_updates) + 1
            names = frozenset(datasets or DATASETS)
            self.late_updates.append(LateUpdate(gen, names, share, at))
            self._cache.clear()
            return gen

    # -- public ---------------------------------------------------------------------------
    def bucket_rows(self, dataset: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        """Rows of ``dataset`` for the bucket starting at ``start`` (UTC), as column dicts."""
        key = (dataset.name, start, minutes, len(self.late_updates))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        rows = self._generate(dataset, start, minutes)
        rows = [self._apply_late_updates(dataset, r, start) for r in rows]
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return rows

    # -- generation -----------------------------------------------------------------------
    def _rng(self, *parts: object) -> random.Random:
        return random.Random(_h(self.seed, *parts))

    def _row_id(self, dataset: str, *identity: object) -> str:
        """ROW_ID from the row's natural identity: the same on every run and in late updates."""
        return _hexid("", self.seed, dataset, "row", *identity, length=32)

    def _common(
        self, dataset: str, start: datetime, minutes: int, i: int, rnd: random.Random
    ) -> dict[str, str]:
        commit = (
            start
            + timedelta(minutes=minutes)
            + timedelta(seconds=rnd.randint(120, 1500), milliseconds=rnd.randint(0, 999))
        )
        return {
            "ROW_ID": _hexid("", self.seed, dataset, start.isoformat(), minutes, i, length=32),
            "ROW_DATE_UTC": start.isoformat()[:10],
            "STARTTIME": start.astimezone(self.tz).strftime("%H:%M"),
            "INTERVAL": str(minutes),
            "STARTTIME_UTC": iso_z(start),
            "SOURCE_SYSTEM": "AXP",
            "ACCOUNT_ID": self.account_id,
            "COMMIT_TS": iso_z(commit, ms=True),
        }

    def _generate(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        key = (
            self.seed,
            self.rows_per_interval,
            self.tz.key,
            self.shared_ids,
            ds.name,
            start.isoformat(),
            minutes,
        )
        rows = _GENERATED.get(key)
        if rows is None:
            gen = getattr(self, "_gen_" + ds.name)
            rows = gen(ds, start, minutes)
            _GENERATED.put(key, rows)
        return rows

    def _count(self, rnd: random.Random, cap: int) -> int:
        n = round(self.rows_per_interval * rnd.uniform(0.75, 1.25))
        return max(1, min(cap, n))

    def _scale(self, minutes: int) -> int:
        return max(1, minutes // 15)

    # metric datasets ------------------------------------------------------------------
    def _gen_agent(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        rnd = self._rng(ds.name, start.isoformat(), minutes)
        combos = [(a, c) for a in self.agents for c in CHANNELS[:3]]
        picked = rnd.sample(combos, self._count(rnd, len(combos)))
        k = self._scale(minutes)
        out = []
        for i, (agent, channel) in enumerate(picked):
            n = rnd.randint(0, 6) * k
            staff = min(minutes * 60, rnd.randint(300, 900) * k)
            aux = rnd.randint(0, staff // 3)
            row = self._common(ds.name, start, minutes, i, rnd) | {
                "AGENT_ID": agent.id,
                "AGENT_NAME": agent.name,
                "AGENT_EMAIL": agent.email,
                "CHANNEL": channel,
                "SUB_CHANNEL": rnd.choice(["inbound", "outbound"]),
            }
            for col, _ in ds.columns[len(row) :]:
                row[col] = str(rnd.randint(0, 120) * n) if n else "0"
            row["INTERACTIONS"] = str(n)
            row["I_STAFFTIME"] = row["TI_STAFFTIME"] = str(staff)
            row["I_AUXTIME"] = row["TI_AUXTIME"] = str(aux)
            row["TI_AVAILTIME"] = str(staff - aux)
            out.append(row)
        return out

    def _gen_queue(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        rnd = self._rng(ds.name, start.isoformat(), minutes)
        combos = [(q, c, s) for q in self.queues for c in CHANNELS for s in ("inbound", "outbound")]
        picked = rnd.sample(combos, self._count(rnd, len(combos)))
        k = self._scale(minutes)
        out = []
        for i, (queue, channel, sub) in enumerate(picked):
            offered = rnd.randint(0, 20) * k
            abandoned = rnd.randint(0, offered // 4) if offered else 0
            row = self._common(ds.name, start, minutes, i, rnd) | {
                "QUEUE_ID": queue.id,
                "QUEUE_NAME": queue.name,
                "CHANNEL": channel,
                "SUB_CHANNEL": sub,
                "INTERACTIONS": str(offered - abandoned),
                "INTERACTIONSOFFERED": str(offered),
            }
            for col, _ in ds.columns[len(row) :]:
                row[col] = str(rnd.randint(0, 90) * offered)
            row["ABNINTERACTIONS"] = str(abandoned)
            row["MAXOCWTIME"] = str(rnd.randint(0, 600) if offered else 0)
            out.append(row)
        return out

    def _gen_agentAux(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        rnd = self._rng(ds.name, start.isoformat(), minutes)
        combos = [(a, t, s) for a in self.agents for t, ss in STATUS_TYPES.items() for s in ss]
        picked = rnd.sample(combos, self._count(rnd, len(combos)))
        k = self._scale(minutes)
        out = []
        for i, (agent, stype, status) in enumerate(picked):
            staff = rnd.randint(60, 900) * k
            aux = 0 if stype == "Q Login" else rnd.randint(0, staff)
            out.append(
                self._common(ds.name, start, minutes, i, rnd)
                | {
                    "AGENT_ID": agent.id,
                    "AGENT_NAME": agent.name,
                    "AGENT_TAGS": agent.tags,
                    "STATUS_TYPE": stype,
                    "STATUS": status,
                    "AGENT_TIME_ZONE": agent.tz,
                    "I_STAFFTIME": str(staff),
                    "TI_STAFFTIME": str(staff),
                    "I_AUXTIME": str(aux),
                    "TI_AUXTIME": str(aux),
                }
            )
        return out

    def _gen_agentByQueue(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        rnd = self._rng(ds.name, start.isoformat(), minutes)
        combos = [(a, q) for a in self.agents for q in self.queues]
        picked = rnd.sample(combos, self._count(rnd, len(combos)))
        k = self._scale(minutes)
        out = []
        for i, (agent, queue) in enumerate(picked):
            n = rnd.randint(0, 5) * k
            row = self._common(ds.name, start, minutes, i, rnd) | {
                "AGENT_ID": agent.id,
                "AGENT_NAME": agent.name,
                "QUEUE_ID": queue.id,
                "QUEUE_NAME": queue.name,
                "CHANNEL": rnd.choice(CHANNELS),
                "SUB_CHANNEL": rnd.choice(["inbound", "outbound"]),
                "INTERACTIONS": str(n),
            }
            for col, _ in ds.columns[len(row) :]:
                row[col] = str(rnd.randint(0, 60) * n) if n else "0"
            row["ASSISTS"] = str(rnd.randint(0, n))
            out.append(row)
        return out

    def _gen_workflow(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        rnd = self._rng(ds.name, start.isoformat(), minutes)
        combos = [(w, c) for w in self.workflows for c in CHANNELS]
        picked = rnd.sample(combos, self._count(rnd, len(combos)))
        k = self._scale(minutes)
        out = []
        for i, ((wid, wname, _vid, vnum), channel) in enumerate(picked):
            started = rnd.randint(0, 40) * k
            failed = rnd.randint(0, started // 10) if started else 0
            abandoned = rnd.randint(0, started // 8) if started else 0
            avg = rnd.randint(5_000, 120_000) if started else 0
            out.append(
                self._common(ds.name, start, minutes, i, rnd)
                | {
                    "WORKFLOW_ID": wid,
                    "WORKFLOW_NAME": wname,
                    "WORKFLOW_VERSIONNUMBER": vnum,
                    "CHANNEL": channel,
                    "SESSIONS_STARTED": str(started),
                    "SESSIONS_COMPLETED": str(started - failed - abandoned),
                    "SESSIONS_FAILED": str(failed),
                    "SESSIONS_ABANDONED": str(abandoned),
                    "AVG_DURATION_MS": str(avg),
                    "MAX_DURATION_MS": str(avg * 2),
                }
            )
        return out

    # interactions ---------------------------------------------------------------------
    def interactions(self, start: datetime) -> list[Interaction]:
        """Interactions that started in the 15-minute interval at ``start``."""
        key = ("_interactions", start)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit  # type: ignore[return-value]
        rnd = self._rng("interactions", start.isoformat())
        out: list[Interaction] = []
        target = round(self.rows_per_interval * rnd.uniform(0.8, 1.2))
        segs = 0
        n = 0
        while segs < max(1, target):
            out.append(self._interaction(start, n))
            segs += len(out[-1].segments)
            n += 1
        with self._lock:
            self._cache[key] = out  # type: ignore[assignment]
        return out

    def _interaction(self, interval: datetime, n: int) -> Interaction:
        rnd = self._rng("interaction", interval.isoformat(), n)
        iid = _hexid("00ad", self.seed, "interaction", interval.isoformat(), n)
        begin = interval + timedelta(seconds=rnd.randint(0, 899))
        channel = rnd.choices(CHANNELS, weights=[6, 3, 2, 1])[0]
        customer = (
            rnd.choice(CJK_NAMES)
            if rnd.random() < 0.15
            else f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}"
        )
        queue = rnd.choice(self.queues)
        it = Interaction(
            id=iid,
            start=begin,
            channel=channel,
            queue=queue,
            customer=customer,
            phone=f"+1{rnd.randint(2000000000, 9899999999)}" if channel in ("phone", "sms") else "",
            email=f"customer{rnd.randint(1, 99999)}@example.invalid" if channel == "email" else "",
            notes=rnd.choice(NOTES),
            subject=rnd.choice(SUBJECTS),
            tags=",".join(rnd.sample(TAGS, rnd.randint(0, 2))),
        )
        # workflow session first (IVR/bot), then queue and agent segments
        t = begin
        if rnd.random() < 0.9:
            t = self._trace(it, rnd, linked=rnd.random() < 0.92)
        nseg = rnd.choices([1, 2, 3, 4], weights=[4, 3, 2, 1])[0]
        q = queue
        comm = COMM_TYPES[channel]
        for s in range(1, nseg + 1):
            abandoned = s == 1 and rnd.random() < 0.05
            agent = rnd.choice(self.agents)
            wait = rnd.randint(0, 300)
            talk = 0 if abandoned else rnd.randint(30, 1200)
            hold = 0 if abandoned or rnd.random() < 0.6 else rnd.randint(5, 180)
            wrap = 0 if abandoned else rnd.randint(0, 240)
            t = t + timedelta(seconds=wait + talk + hold)
            last = s == nseg or abandoned
            nxt = rnd.choice(self.queues) if not last else None
            silence = (
                ""
                if rnd.random() < 0.5
                else json.dumps([{"start": rnd.randint(0, 60), "duration": rnd.randint(2, 15)}])
            )
            seg = {
                "ROW_ID": self._row_id("interactionSegments", iid, s),
                "INTERACTION_SEGMENT_ID": _hexid("00ae", self.seed, iid, s),
                "INTERACTION_ID": iid,
                "QUEUE_ID": q.id,
                "USER_ID": "" if abandoned else agent.id,
                "STATUS": "abandoned" if abandoned else "connected",
                "COMM_TYPE": comm,
                "SUB_COMM_TYPE": rnd.choice(["inbound", "outbound", "other"]),
                "WAIT_TIME": str(wait),
                "HOLD_TIME": str(hold),
                "TIME_INTERACTING": str(talk),
                "WRAP_UP_TIME": str(wrap),
                "END_TIME": iso_z(t),
                "EVENT": "status",
                "EVENT_DESC": "abandoned" if abandoned else rnd.choice(["connected", "completed"]),
                "SEGMENT_NUMBER": str(s),
                "COMPLETION_TYPE": "disposition" if last and not abandoned else "",
                "COMPLETION_VALUE": rnd.choice(["RESOLVED", "FOLLOW_UP", "NO_ACTION"])
                if last and not abandoned
                else "",
                "COMPLETION_DISPLAY_NAME": "Resolved" if last and not abandoned else "",
                "COMPLETION_TIME_UNIX": str(int((t + timedelta(seconds=wrap)).timestamp()))
                if last
                else "",
                "TRANSFER_LOCATION": nxt.name if nxt else "",
                "TRANSFER_RESULT": "success" if nxt else "",
                "XFER_LOC_QUEUE_ID": nxt.id if nxt else "",
                "XFER_LOC_INTERACTION_ID": iid if nxt else "",
                "SILENCE_SEGMENTS": silence,
                "SILENCE_TOTAL": str(json.loads(silence)[0]["duration"]) if silence else "0",
                "INTERACTION_TYPE": rnd.choice(["inbound", "outbound", "callback"]),
                "INTERACTION_NOTES": it.notes,
                "INTERACTION_RESULT": "abandoned"
                if abandoned
                else rnd.choice(["resolved", "escalated", ""]),
                "INTERACTION_SUBJECT": it.subject,
                "FIRST_LAST_NAME": customer,
                "QUEUE_NAME": q.name,
                "SOURCE_PHONE_NUMBER": it.phone,
                "SOURCE_EMAIL": it.email,
                "INTERACTION_TAGS": it.tags,
                "ROW_DATE_UTC": interval.isoformat()[:10],
                "STARTTIME_UTC": iso_z(begin),
                "SOURCE_SYSTEM": "AXP",
                "ACCOUNT_ID": self.account_id,
                "COMMIT_TS": iso_z(
                    t
                    + timedelta(
                        seconds=wrap + rnd.randint(60, 900), milliseconds=rnd.randint(0, 999)
                    ),
                    ms=True,
                ),
            }
            it.segments.append(seg)
            if last:
                break
            q = nxt  # type: ignore[assignment]
        return it

    def _trace(self, it: Interaction, rnd: random.Random, linked: bool) -> datetime:
        wid, wname, vid, vnum = rnd.choice(self.workflows)
        sid = _hexid("00af", self.seed, "wfs", it.id)
        steps = [STEP_TYPES[0], *rnd.sample(STEP_TYPES[1:5], rnd.randint(1, 3)), STEP_TYPES[5]]
        durations = [rnd.randint(200, 20_000) for _ in steps]
        total = sum(durations)
        t = it.start
        end = it.start + timedelta(milliseconds=total)
        lang = rnd.choice(["en", "fr", "ja", "es"])
        variables = json.dumps(
            {
                "language": lang,
                "customerTier": rnd.choice(["gold", "silver"]),
                "intent": it.subject,
                "note": 'a "quoted", value',
            },
            ensure_ascii=False,
        )
        voice = it.channel == "phone"
        for n, ((typ, desc, label), dur) in enumerate(zip(steps, durations, strict=True)):
            step_end = t + timedelta(milliseconds=dur)
            is_input = typ == "GetInput"
            it.trace.append(
                {
                    "ROW_ID": self._row_id("workflowTrace", sid, n),
                    "WORKFLOWSESSION_ID": sid,
                    "WORKFLOWSESSION_INTERACTIONID": it.id if linked else "",
                    "UPDATEHISTORYITEM_ID": _hexid("00b0", self.seed, sid, n),
                    "WORKFLOWSESSION_WORKFLOWNAME": wname,
                    "HISTORYITEM_DURATION_MS": str(dur),
                    "UPDATEHISTORYITEM_STARTTIME": iso_z(t, ms=True),
                    "UPDATEHISTORYITEM_ENDTIME": iso_z(step_end, ms=True),
                    "WORKFLOWSESSION_STARTTIME": iso_z(it.start, ms=True),
                    "WORKFLOWSESSION_ENDTIME": iso_z(end, ms=True),
                    "WORKFLOWSESSION_DURATION_MS": str(total),
                    "FORMATTED_HISTORYITEM_DURATION": _hms(dur),
                    "UPDATEHISTORYITEM_WORKFLOWITEMID": _hexid("00b1", self.seed, wid, typ),
                    "UPDATEHISTORYITEM_EXITPORT": "failure" if rnd.random() < 0.05 else "success",
                    "UPDATEHISTORYITEM_PROMPT": rnd.choice(PROMPTS)
                    if typ in ("PlayMessage", "GetInput")
                    else "",
                    "UPDATEHISTORYITEM_INPUT": rnd.choice(["1", "2", "billing", "agent", "*0#"])
                    if is_input
                    else "",
                    "UPDATEHISTORYITEM_ENDEVENT": "completed" if not is_input else "inputReceived",
                    "UPDATEHISTORYITEM_MODE": "auto",
                    "UPDATEHISTORYITEM_TYPE": typ,
                    "ITEM_DESCRIPTION": desc,
                    "UPDATEHISTORYITEM_LABEL": label,
                    "WORKFLOWSESSION_WORKFLOWID": wid,
                    "WORKFLOWSESSION_WORKFLOWVERSIONID": vid,
                    "WORKFLOWSESSION_WORKFLOWVERSIONNUMBER": vnum,
                    "WORKFLOWSESSION_DATA_VARIABLES": variables,
                    "WORKFLOWSESSION_DATA_SOURCE": rnd.choice(["api", "pstn", "web"]),
                    "WORKFLOWSESSION_COMMTYPE": COMM_TYPES[it.channel],
                    "WORKFLOWSESSION_CHANNELTYPE": it.channel,
                    "WORKFLOWSESSION_LANGUAGE": lang,
                    "WORKFLOWSESSION_ISVOICE": str(voice).lower(),
                    "WORKFLOWSESSION_ISCHAT": str(it.channel in ("chat", "sms")).lower(),
                    "WORKFLOWSESSION_ISDIGITAL": str(not voice).lower(),
                    "WORKFLOWSESSION_ISTASK": "false",
                    "WORKFLOWSESSION_ISEMBEDDED": str(n > 0 and rnd.random() < 0.05).lower(),
                    "ROW_DATE_UTC": it.start.isoformat()[:10],
                    "STARTTIME_UTC": iso_z(it.start),
                    "SOURCE_SYSTEM": "AXP",
                    "ACCOUNT_ID": self.account_id,
                    "COMMIT_TS": iso_z(
                        end
                        + timedelta(seconds=rnd.randint(60, 900), milliseconds=rnd.randint(0, 999)),
                        ms=True,
                    ),
                }
            )
            t = step_end
        return end

    def _gen_interactionSegments(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        return [s for it in self.interactions(start) for s in it.segments]

    def _gen_workflowTrace(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        return [s for it in self.interactions(start) for s in it.trace]

    def _gen_mpccdr(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        out = []
        for it in self.interactions(start):
            if it.channel != "phone":
                continue
            rnd = self._rng("cdr", it.id)
            first = it.segments[0]
            answered = first["STATUS"] == "connected"
            ring = rnd.randint(2, 30)
            end_time = it.segments[-1]["END_TIME"]
            dur = int((datetime.fromisoformat(end_time) - it.start).total_seconds())
            out.append(
                {
                    "ROW_ID": self._row_id("mpccdr", it.id),
                    "CDR_ID": _hexid("00c0", self.seed, "cdr", it.id),
                    "ROW_DATE_UTC": start.isoformat()[:10],
                    "STARTTIME_UTC": iso_z(start),
                    "SOURCE_SYSTEM": "MPC",
                    "ACCOUNT_ID": self.account_id,
                    "COMMIT_TS": iso_z(
                        datetime.fromisoformat(end_time)
                        + timedelta(seconds=rnd.randint(30, 600), milliseconds=rnd.randint(0, 999)),
                        ms=True,
                    ),
                    "CALL_ID": _hexid("", self.seed, "call", it.id, length=36),
                    "INTERACTION_ID": it.id,
                    "QUEUE_ID": it.queue.id,
                    "AGENT_ID": first["USER_ID"],
                    "CHANNEL": "phone",
                    "DIRECTION": first["SUB_COMM_TYPE"]
                    if first["SUB_COMM_TYPE"] != "other"
                    else "inbound",
                    "CALLING_NUMBER": it.phone,
                    "CALLED_NUMBER": "+18005550199",
                    "START_TIME": iso_z(it.start),
                    "ANSWER_TIME": iso_z(it.start + timedelta(seconds=ring)) if answered else "",
                    "END_TIME": end_time,
                    "DURATION": str(dur),
                    "RING_DURATION": str(ring),
                    "DISCONNECT_REASON": rnd.choice(["caller", "agent", "system"]),
                    "TRUNK_ID": f"TRK-{rnd.randint(1, 8):02d}",
                }
            )
        return out

    def _gen_transcript(self, ds: Dataset, start: datetime, minutes: int) -> list[dict[str, str]]:
        out = []
        for it in self.interactions(start):
            if it.channel == "email":
                continue
            rnd = self._rng("transcript", it.id)
            if it.channel == "phone" and rnd.random() < 0.7:
                continue
            lines = [
                f"[{iso_z(it.start)}] Customer: Bonjour, une question « urgente » — {it.subject}",
                'Agent: Hello! How can I help, "today"?',
                "Customer: =1+1, my account number is 12,345; please check.",
                "Customer: 返金をお願いします。",
                "Agent: Done.\nIs there anything else?",
            ]
            text = "\n".join(lines[: rnd.randint(2, len(lines))])
            if rnd.random() < 0.05:  # a long transcript, over 10 kB
                while len(text.encode()) < 10_240:
                    text += "\n" + rnd.choice(lines)
            end = it.segments[-1]["END_TIME"]
            row = {
                "ROW_ID": self._row_id("transcript", it.id),
                "TRANSCRIPT_ID": _hexid("00d0", self.seed, "tr", it.id),
                "INTERACTION_ID": it.id,
                "ROW_DATE_UTC": start.isoformat()[:10],
                "STARTTIME_UTC": iso_z(start),
                "ACCOUNT_ID": self.account_id,
                "COMMIT_TS": iso_z(
                    datetime.fromisoformat(end)
                    + timedelta(seconds=rnd.randint(60, 1200), milliseconds=rnd.randint(0, 999)),
                    ms=True,
                ),
                "CHANNEL": it.channel,
                "AGENT_ID": it.segments[0]["USER_ID"],
                "LANGUAGE": rnd.choice(["en", "fr", "ja"]),
                "PARTICIPANT_COUNT": "2",
                "MESSAGE_COUNT": str(text.count("\n") + 1),
                "START_TIME": iso_z(it.start),
                "END_TIME": end,
                "TRANSCRIPT_TEXT": text,
            }
            if not self.shared_ids:
                out.append(row)
                continue
            # one row per message: TRANSCRIPT_ID repeats, each message has its own ROW_ID
            for k, message in enumerate(text.split("\n")):
                out.append(
                    row
                    | {"ROW_ID": self._row_id("transcript", it.id, k), "TRANSCRIPT_TEXT": message}
                )
        return out

    # login sessions -------------------------------------------------------------------
    def _logins(self, start: datetime) -> list[dict[str, Any]]:
        rnd = self._rng("logins", start.isoformat())
        n = max(1, self.rows_per_interval // 10)
        out = []
        for i in range(n):
            agent = rnd.choice(self.agents)
            login = start + timedelta(seconds=rnd.randint(0, 899))
            active = rnd.random() < 0.15
            dur = 0 if active else rnd.randint(600, 9 * 3600)
            out.append(
                {
                    "sid": _hexid("00e0", self.seed, "login", start.isoformat(), i),
                    "agent": agent,
                    "login": login,
                    "logout": None if active else login + timedelta(seconds=dur),
                    "dur": dur,
                    "queues": rnd.sample(self.queues, rnd.randint(1, 3)),
                    "reason": "" if active else rnd.choice(["Manual", "Timeout", "Forced"]),
                    "rnd": rnd.random(),
                }
            )
        return out

    def _gen_agentLoginSessions(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        out = []
        for i, s in enumerate(self._logins(start)):
            rnd = self._rng("ls", s["sid"])
            common = self._common(ds.name, start, 15, i, rnd)
            out.append(
                {
                    k: common[k]
                    for k in ("ROW_ID", "ROW_DATE_UTC", "SOURCE_SYSTEM", "ACCOUNT_ID", "COMMIT_TS")
                }
                | {
                    "LOGIN_SESSION_ID": s["sid"],
                    "AGENT_ID": s["agent"].id,
                    "AGENT_NAME": s["agent"].name,
                    "CHANNEL": rnd.choice(CHANNELS[:3]),
                    "LOGIN_TIME": iso_z(s["login"]),
                    "LOGOUT_TIME": iso_z(s["logout"]) if s["logout"] else "",
                    "SESSION_DURATION": str(s["dur"]),
                    "LOGOUT_REASON": s["reason"],
                    "STATION_ID": f"ST-{rnd.randint(100, 999)}",
                }
            )
        return out

    def _gen_agentLoginLogoutByQueue(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        out = []
        for s in self._logins(start):
            rnd = self._rng("llq", s["sid"])
            for q in s["queues"]:
                out.append(
                    {
                        "ROW_ID": self._row_id("agentLoginLogoutByQueue", s["sid"], q.id),
                        "SESSION_ID": s["sid"],
                        "QUEUE_ID": q.id,
                        "AGENT_ID": s["agent"].id,
                        "LOGIN_TIME": iso_z(s["login"]),
                        "LOGOUT_TIME": iso_z(s["logout"]) if s["logout"] else "",
                        "LOGOUT_REASON": s["reason"],
                        "ROW_DATE_UTC": start.isoformat()[:10],
                        "SOURCE_SYSTEM": "AXP",
                        "ACCOUNT_ID": self.account_id,
                        "COMMIT_TS": iso_z(
                            s["login"]
                            + timedelta(
                                seconds=rnd.randint(60, 900), milliseconds=rnd.randint(0, 999)
                            ),
                            ms=True,
                        ),
                    }
                )
        return out

    def _gen_cxAgentLoginLogout(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        out = []
        for s in self._logins(start):
            rnd = self._rng("cx", s["sid"])
            active = s["logout"] is None
            parts = {
                k: (0 if active else rnd.randint(0, s["dur"] // 3))
                for k in ("AVAILABLE", "AWAY", "BUSY", "OFFLINE")
            }
            statuses = rnd.sample(["Available", "Away", "Busy", "Offline"], rnd.randint(1, 3))
            # a status a minute apart, but never past the login's interval: a client counts
            # rows per interval by START_TIME
            room = (start + INTERVAL - s["login"]).total_seconds() - 1
            gap = min(60, int(room) // max(1, len(statuses) - 1))
            for n, status in enumerate(statuses):
                created = s["login"] + timedelta(seconds=n * gap)
                updated = (
                    ""
                    if active or rnd.random() < 0.3
                    else iso_z(created + timedelta(seconds=rnd.randint(60, 3600)))
                )
                out.append(
                    {
                        "ROW_ID": self._row_id("cxAgentLoginLogout", s["sid"], n),
                        "ID": _hexid("00f0", self.seed, "cx", s["sid"])
                        if self.shared_ids
                        else _hexid("00f0", self.seed, "cx", s["sid"], n),
                        "USER_ID": s["agent"].id,
                        "STATUS_TYPE": "CX Login",
                        "STATUS": status,
                        "START_TIME": iso_z(created),
                        "END_TIME": "" if active else iso_z(s["logout"]),
                        "DURATION": str(s["dur"]),
                        "DURATION_AVAILABLE": str(parts["AVAILABLE"]),
                        "DURATION_AWAY": str(parts["AWAY"]),
                        "DURATION_BUSY": str(parts["BUSY"]),
                        "DURATION_OFFLINE": str(parts["OFFLINE"]),
                        "IS_SYSTEM": str(int(rnd.random() < 0.2)),
                        "IS_LOGIN": str(int(n == 0)),
                        "CREATED_AT": iso_z(created),
                        "UPDATED_AT": updated,
                        "ROW_DATE_UTC": start.isoformat()[:10],
                        "ACCOUNT_ID": self.account_id,
                        "COMMIT_TS": iso_z(
                            created
                            + timedelta(
                                seconds=rnd.randint(60, 900), milliseconds=rnd.randint(0, 999)
                            ),
                            ms=True,
                        ),
                    }
                )
        return out

    def _gen_clientSessions(
        self, ds: Dataset, start: datetime, minutes: int
    ) -> list[dict[str, str]]:
        out = []
        for i, s in enumerate(self._logins(start)):
            rnd = self._rng("cs", s["sid"])
            out.append(
                self._common(ds.name, start, 15, i, rnd)
                | {
                    "CLIENT_SESSION_ID": _hexid("00f1", self.seed, "cs", s["sid"]),
                    "AGENT_ID": s["agent"].id,
                    "CLIENT_TYPE": rnd.choice(["desktop", "browser"]),
                    "CLIENT_VERSION": f"4.{rnd.randint(0, 9)}.{rnd.randint(0, 30)}",
                    "BROWSER": rnd.choice(["Chrome 131", "Edge 131", "Firefox 133", ""]),
                    "OS_NAME": rnd.choice(["Windows 11", "macOS 15", "Ubuntu 24.04"]),
                    "SESSION_START": iso_z(s["login"]),
                    "SESSION_END": iso_z(s["logout"]) if s["logout"] else "",
                    "DURATION": str(s["dur"]),
                }
            )
        return out

    # late updates -----------------------------------------------------------------------
    def _apply_late_updates(
        self, ds: Dataset, row: dict[str, str], bucket: datetime
    ) -> dict[str, str]:
        if not self.late_updates:
            return row
        key = "\x1f".join(row[c] for c in ds.key)
        for up in self.late_updates:
            if ds.name not in up.datasets:
                continue
            if datetime.fromisoformat(row["COMMIT_TS"]) >= up.at:
                continue  # not yet committed when the update ran
            frac = int.from_bytes(_h(self.seed, "late", up.generation, ds.name, key)[:8]) / 2**64
            if frac >= up.share:
                continue
            row = dict(row)
            row["COMMIT_TS"] = iso_z(up.at + timedelta(milliseconds=up.generation), ms=True)
            col = LATE_UPDATE_COLUMN[ds.name]
            if ds.column_type(col) == "number":
                row[col] = str(int(row[col] or 0) + 7 * up.generation)
            else:
                row[col] = iso_z(up.at)
        return row


#: The value a late update changes in each dataset (besides COMMIT_TS).
LATE_UPDATE_COLUMN: dict[str, str] = {
    "agent": "INTERACTIONTIME",
    "queue": "WAITTIME",
    "agentAux": "I_AUXTIME",
    "agentByQueue": "HOLDTIME",
    "agentLoginSessions": "SESSION_DURATION",
    "agentLoginLogoutByQueue": "LOGOUT_TIME",
    "cxAgentLoginLogout": "DURATION_BUSY",
    "clientSessions": "DURATION",
    "mpccdr": "DURATION",
    "transcript": "MESSAGE_COUNT",
    "workflow": "SESSIONS_COMPLETED",
    "interactionSegments": "WRAP_UP_TIME",
    "workflowTrace": "HISTORYITEM_DURATION_MS",
}
