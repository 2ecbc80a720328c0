"""The 13 Historical API datasets: names, descriptions, entitlement, columns and row keys.

This registry is shared by the simulator (which serves these columns), the client (which
checks dataset names before any request) and the archive (which keys rows by ``key``).
Columns of the five datasets the vendor guide leaves undocumented are our simulator's
plausible choice; a real tenant's ``columnHeaders`` are always authoritative.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

STANDARD = "Standard"
ANALYTICS_INSIGHTS = "Analytics Insights"

#: Columns the guide says may be used as filter keys.
FILTERABLE_COLUMNS: tuple[str, ...] = ("CHANNEL", "AGENT_ID", "QUEUE_ID", "ACCOUNT_ID")

#: The guide's common columns, in the order the API returns them.
COMMON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ROW_ID", "string"),
    ("ROW_DATE_UTC", "datetime"),
    ("STARTTIME", "string"),
    ("INTERVAL", "number"),
    ("STARTTIME_UTC", "datetime"),
    ("SOURCE_SYSTEM", "string"),
    ("ACCOUNT_ID", "string"),
    ("COMMIT_TS", "datetime"),
)

ENTITLEMENT_DETAIL = (
    "This dataset requires the Analytics Insights entitlement. Please contact your "
    "administrator to enable Analytics Insights for your account."
)


@dataclass(frozen=True)
class Dataset:
    """One dataset of the Historical API."""

    name: str
    description: str
    entitlement: str
    columns: tuple[tuple[str, str], ...]
    #: The natural key: columns that identify one row where a response has no ROW_ID (the
    #: archive keys by ROW_ID whenever columnHeaders carry it; see archive/identity.py). Kept
    #: with every record so row history groups versions by it.
    key: tuple[str, ...]
    #: True when the vendor guide documents the columns; False when they are our guess.
    documented: bool = True
    #: "metric": per-interval aggregates (daily queries return daily aggregates);
    #: "event": one row per event (daily queries return the day's events).
    kind: str = "metric"
    #: The row's own time: which 15-minute interval a row belongs to, for coverage evidence.
    time_column: str = "STARTTIME_UTC"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def needs_analytics_insights(self) -> bool:
        return self.entitlement == ANALYTICS_INSIGHTS

    def column_type(self, name: str) -> str:
        for col, typ in self.columns:
            if col == name:
                return typ
        raise KeyError(name)


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """Parse 'NAME:type NAME:type' (type defaults to string)."""
    out = []
    for item in spec.split():
        name, _, typ = item.partition(":")
        out.append((name, {"n": "number", "d": "datetime", "b": "boolean"}.get(typ, "string")))
    return tuple(out)


_QUEUE = _cols(
    "QUEUE_ID QUEUE_NAME CHANNEL SUB_CHANNEL INTERACTIONS:n INTERACTIONSOFFERED:n WAITTIME:n "
    "MAXOCWTIME:n HOLDTIME:n INTERACTIONTIME:n WRAPUPTIME:n ABNINTERACTIONS:n ABNWAITTIME:n "
    "OUTFLOWINTERACTIONS:n INFLOWINTERACTIONS:n I_INTERACTIONTIME:n I_WRAPUPTIME:n I_STAFFTIME:n "
    "OUTOFFOCUSTIME:n INTERACTION_OUTOFFOCUSTIME:n WRAPUP_OUTOFFOCUSTIME:n I_OUTOFFOCUSTIME:n "
    "INTERACTION_INFOCUSTIME:n WRAPUP_INFOCUSTIME:n"
)
_AGENT = _cols(
    "AGENT_ID AGENT_NAME AGENT_EMAIL CHANNEL SUB_CHANNEL INTERACTIONS:n WAITTIME:n HOLDTIME:n "
    "INTERACTIONTIME:n WRAPUPTIME:n HOLD_INTERACTIONS:n TRANSFERED_INTERACTIONS:n "
    "I_INTERACTIONTIME:n I_WRAPUPTIME:n I_RINGTIME:n I_AUXTIME:n I_STAFFTIME:n TI_AVAILTIME:n "
    "TI_STAFFTIME:n TI_AUXTIME:n OUTOFFOCUSTIME:n INTERACTION_OUTOFFOCUSTIME:n "
    "WRAPUP_OUTOFFOCUSTIME:n INTERACTION_INFOCUSTIME:n WRAPUP_INFOCUSTIME:n"
)
_AGENT_AUX = _cols(
    "AGENT_ID AGENT_NAME AGENT_TAGS STATUS_TYPE STATUS AGENT_TIME_ZONE I_STAFFTIME:n "
    "TI_STAFFTIME:n I_AUXTIME:n TI_AUXTIME:n"
)
_AGENT_BY_QUEUE = _cols(
    "AGENT_ID AGENT_NAME QUEUE_ID QUEUE_NAME CHANNEL SUB_CHANNEL INTERACTIONS:n "
    "I_INTERACTIONTIME:n I_WRAPUPTIME:n HOLD_INTERACTIONS:n AUXIN_INTERACTIONS:n HOLDTIME:n "
    "TRANSFERED_INTERACTIONS:n AUXOUT_INTERACTIONS:n I_AUXINTIME:n I_AUXOUTTIME:n ASSISTS:n"
)
_LOGIN_SESSIONS = _cols(
    "ROW_ID ROW_DATE_UTC:d SOURCE_SYSTEM ACCOUNT_ID COMMIT_TS:d LOGIN_SESSION_ID AGENT_ID "
    "AGENT_NAME CHANNEL LOGIN_TIME:d LOGOUT_TIME:d SESSION_DURATION:n LOGOUT_REASON STATION_ID"
)
_LOGIN_LOGOUT_BY_QUEUE = _cols(
    "ROW_ID SESSION_ID QUEUE_ID AGENT_ID LOGIN_TIME:d LOGOUT_TIME:d LOGOUT_REASON ROW_DATE_UTC:d "
    "SOURCE_SYSTEM ACCOUNT_ID COMMIT_TS:d"
)
_CX_LOGIN_LOGOUT = _cols(
    "ROW_ID ID USER_ID STATUS_TYPE STATUS START_TIME:d END_TIME:d DURATION:n DURATION_AVAILABLE:n "
    "DURATION_AWAY:n DURATION_BUSY:n DURATION_OFFLINE:n IS_SYSTEM:n IS_LOGIN:n CREATED_AT:d "
    "UPDATED_AT:d ROW_DATE_UTC:d ACCOUNT_ID COMMIT_TS:d"
)
_CLIENT_SESSIONS = _cols(
    "ROW_ID ROW_DATE_UTC:d STARTTIME INTERVAL:n STARTTIME_UTC:d SOURCE_SYSTEM ACCOUNT_ID "
    "COMMIT_TS:d CLIENT_SESSION_ID AGENT_ID CLIENT_TYPE CLIENT_VERSION BROWSER OS_NAME "
    "SESSION_START:d SESSION_END:d DURATION:n"
)
_MPCCDR = _cols(
    "ROW_ID CDR_ID ROW_DATE_UTC:d STARTTIME_UTC:d SOURCE_SYSTEM ACCOUNT_ID COMMIT_TS:d CALL_ID "
    "INTERACTION_ID QUEUE_ID AGENT_ID CHANNEL DIRECTION CALLING_NUMBER CALLED_NUMBER "
    "START_TIME:d ANSWER_TIME:d END_TIME:d DURATION:n RING_DURATION:n DISCONNECT_REASON TRUNK_ID"
)
_TRANSCRIPT = _cols(
    "ROW_ID TRANSCRIPT_ID INTERACTION_ID ROW_DATE_UTC:d STARTTIME_UTC:d ACCOUNT_ID COMMIT_TS:d "
    "CHANNEL AGENT_ID LANGUAGE PARTICIPANT_COUNT:n MESSAGE_COUNT:n START_TIME:d END_TIME:d "
    "TRANSCRIPT_TEXT"
)
_WORKFLOW = _cols(
    "WORKFLOW_ID WORKFLOW_NAME WORKFLOW_VERSIONNUMBER CHANNEL SESSIONS_STARTED:n "
    "SESSIONS_COMPLETED:n SESSIONS_FAILED:n SESSIONS_ABANDONED:n AVG_DURATION_MS:n "
    "MAX_DURATION_MS:n"
)
_SEGMENTS = _cols(
    "ROW_ID INTERACTION_SEGMENT_ID INTERACTION_ID QUEUE_ID USER_ID STATUS COMM_TYPE SUB_COMM_TYPE "
    "WAIT_TIME:n HOLD_TIME:n TIME_INTERACTING:n WRAP_UP_TIME:n END_TIME:d EVENT EVENT_DESC "
    "SEGMENT_NUMBER:n COMPLETION_TYPE COMPLETION_VALUE COMPLETION_DISPLAY_NAME "
    "COMPLETION_TIME_UNIX:n TRANSFER_LOCATION TRANSFER_RESULT XFER_LOC_QUEUE_ID "
    "XFER_LOC_INTERACTION_ID SILENCE_SEGMENTS SILENCE_TOTAL:n INTERACTION_TYPE INTERACTION_NOTES "
    "INTERACTION_RESULT INTERACTION_SUBJECT FIRST_LAST_NAME QUEUE_NAME SOURCE_PHONE_NUMBER "
    "SOURCE_EMAIL INTERACTION_TAGS ROW_DATE_UTC:d STARTTIME_UTC:d SOURCE_SYSTEM ACCOUNT_ID "
    "COMMIT_TS:d"
)
_TRACE = _cols(
    "ROW_ID WORKFLOWSESSION_ID WORKFLOWSESSION_INTERACTIONID UPDATEHISTORYITEM_ID "
    "WORKFLOWSESSION_WORKFLOWNAME HISTORYITEM_DURATION_MS:n UPDATEHISTORYITEM_STARTTIME:d "
    "UPDATEHISTORYITEM_ENDTIME:d WORKFLOWSESSION_STARTTIME:d WORKFLOWSESSION_ENDTIME:d "
    "WORKFLOWSESSION_DURATION_MS:n FORMATTED_HISTORYITEM_DURATION "
    "UPDATEHISTORYITEM_WORKFLOWITEMID UPDATEHISTORYITEM_EXITPORT UPDATEHISTORYITEM_PROMPT "
    "UPDATEHISTORYITEM_INPUT UPDATEHISTORYITEM_ENDEVENT UPDATEHISTORYITEM_MODE "
    "UPDATEHISTORYITEM_TYPE ITEM_DESCRIPTION UPDATEHISTORYITEM_LABEL WORKFLOWSESSION_WORKFLOWID "
    "WORKFLOWSESSION_WORKFLOWVERSIONID WORKFLOWSESSION_WORKFLOWVERSIONNUMBER "
    "WORKFLOWSESSION_DATA_VARIABLES WORKFLOWSESSION_DATA_SOURCE WORKFLOWSESSION_COMMTYPE "
    "WORKFLOWSESSION_CHANNELTYPE WORKFLOWSESSION_LANGUAGE WORKFLOWSESSION_ISVOICE:b "
    "WORKFLOWSESSION_ISCHAT:b WORKFLOWSESSION_ISDIGITAL:b WORKFLOWSESSION_ISTASK:b "
    "WORKFLOWSESSION_ISEMBEDDED:b ROW_DATE_UTC:d STARTTIME_UTC:d SOURCE_SYSTEM ACCOUNT_ID "
    "COMMIT_TS:d"
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "agent",
            "Agent performance metrics per interval",
            STANDARD,
            COMMON_COLUMNS + _AGENT,
            ("ROW_ID",),
        ),
        Dataset(
            "queue",
            "Queue performance metrics per interval",
            STANDARD,
            COMMON_COLUMNS + _QUEUE,
            ("ROW_ID",),
        ),
        Dataset(
            "agentAux",
            "Agent auxiliary/status data per interval",
            STANDARD,
            COMMON_COLUMNS + _AGENT_AUX,
            ("ROW_ID",),
        ),
        Dataset(
            "agentByQueue",
            "Agent performance metrics broken down by queue",
            STANDARD,
            COMMON_COLUMNS + _AGENT_BY_QUEUE,
            ("ROW_ID",),
        ),
        Dataset(
            "agentLoginSessions",
            "Agent login session data",
            STANDARD,
            _LOGIN_SESSIONS,
            ("LOGIN_SESSION_ID",),
            documented=False,
            kind="event",
            time_column="LOGIN_TIME",
        ),
        Dataset(
            "agentLoginLogoutByQueue",
            "Agent login/logout events at the queue level",
            STANDARD,
            _LOGIN_LOGOUT_BY_QUEUE,
            ("SESSION_ID", "QUEUE_ID"),
            kind="event",
            time_column="LOGIN_TIME",
        ),
        Dataset(
            "cxAgentLoginLogout",
            "CX Agent login/logout session events with status duration breakdown",
            STANDARD,
            _CX_LOGIN_LOGOUT,
            ("ID",),
            kind="event",
            time_column="START_TIME",
        ),
        Dataset(
            "clientSessions",
            "Client session data",
            STANDARD,
            _CLIENT_SESSIONS,
            ("CLIENT_SESSION_ID",),
            documented=False,
            kind="event",
        ),
        Dataset(
            "mpccdr", "MPC CDR data", STANDARD, _MPCCDR, ("CDR_ID",), documented=False, kind="event"
        ),
        Dataset(
            "transcript",
            "Interaction transcripts",
            STANDARD,
            _TRANSCRIPT,
            ("TRANSCRIPT_ID",),
            documented=False,
            kind="event",
        ),
        Dataset(
            "workflow",
            "Workflow execution data",
            STANDARD,
            COMMON_COLUMNS + _WORKFLOW,
            ("ROW_ID",),
            documented=False,
        ),
        Dataset(
            "interactionSegments",
            "Segment-level interaction data including agent and queue details",
            ANALYTICS_INSIGHTS,
            _SEGMENTS,
            ("INTERACTION_SEGMENT_ID",),
            kind="event",
        ),
        Dataset(
            "workflowTrace",
            "Step-by-step workflow execution trace with timing and variables",
            ANALYTICS_INSIGHTS,
            _TRACE,
            ("UPDATEHISTORYITEM_ID",),
            kind="event",
        ),
    )
}

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def _closest(name: str) -> str | None:
    """The registry name ``name`` was most likely meant to be (its case ignored), or None."""
    by_folded = {n.casefold(): n for n in DATASET_NAMES}
    folded = name.casefold()
    part_of = [n for f, n in by_folded.items() if len(folded) >= 4 and folded in f]
    if len(part_of) == 1:  # "segments", "trace": one name holds it
        return part_of[0]
    hit = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[hit[0]] if hit else None


class UnknownDatasetError(ValueError):
    """A dataset name that is not one of the 13 the API serves."""

    def __init__(self, name: str) -> None:
        guess = _closest(name) if isinstance(name, str) else None
        hint = f" Did you mean {guess!r}?" if guess else ""
        super().__init__(
            f"Unknown dataset {name!r}.{hint} Valid datasets: {', '.join(DATASET_NAMES)}."
        )
        self.name = name
        #: the nearest valid name, when there is one ("did you mean")
        self.suggestion = guess


def get_dataset(name: str) -> Dataset:
    """Return the registry entry for ``name`` (exactly as the API spells it) or raise
    :class:`UnknownDatasetError`. Names typed by a user go through :func:`resolve_name`."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(name) from None


def resolve_name(text: str) -> str:
    """The registry's spelling of a dataset name a user typed, in any case
    (``interactionsegments`` → ``interactionSegments``); surrounding blanks are ignored.
    Raises :class:`UnknownDatasetError` (with a "did you mean" for a near miss) otherwise.
    Every front-end flag and use case that takes a dataset name from outside calls this."""
    name = text.strip()
    if name in DATASETS:
        return name
    for known in DATASET_NAMES:
        if known.casefold() == name.casefold():
            return known
    raise UnknownDatasetError(name)


def resolve_names(texts: Iterable[str]) -> list[str]:
    """:func:`resolve_name` for each, in order, each name once."""
    return list(dict.fromkeys(resolve_name(t) for t in texts))


# -- column descriptions -----------------------------------------------------------------
# The vendor guide's words for each column it documents: the common columns, then each
# documented dataset's own (a dataset's description of a column wins over the common one).
# The five undocumented datasets have none: their columns are the simulator's guess.
_COMMON_DOCS = """
ROW_ID: Unique identifier for this row, generated by the data pipeline.
ROW_DATE_UTC: UTC date for this row, used for partitioning. Format: YYYY-MM-DD.
STARTTIME: Start time of the interval in HH:mm format (local time).
INTERVAL: Interval duration in minutes (typically 15 for interval datasets).
STARTTIME_UTC: Start time in ISO 8601 UTC format. Example: 2025-11-25T00:45:00Z.
SOURCE_SYSTEM: The source system identifier. Typically AXP.
ACCOUNT_ID: Your Avaya Infinity™ account/tenant identifier.
COMMIT_TS: Timestamp when this row was last written to the data store. Use this to detect updates to previously retrieved records.
"""
_DATASET_DOCS: dict[str, str] = {
    "queue": """
QUEUE_ID: Unique queue identifier.
QUEUE_NAME: Display name of the queue.
CHANNEL: Communication channel: phone, email, chat, etc.
SUB_CHANNEL: Channel direction: inbound or outbound.
INTERACTIONS: Interactions handled (connected to an agent) during the interval.
INTERACTIONSOFFERED: Total interactions offered to the queue, including abandoned.
WAITTIME: Total customer wait time in seconds across all interactions.
MAXOCWTIME: Maximum observed customer wait time in seconds during the interval.
HOLDTIME: Total hold time in seconds across all interactions.
INTERACTIONTIME: Total active interaction (talk/handle) time in seconds.
WRAPUPTIME: Total wrap-up time in seconds across all interactions.
ABNINTERACTIONS: Number of interactions abandoned before connecting to an agent.
ABNWAITTIME: Total wait time in seconds for abandoned interactions.
OUTFLOWINTERACTIONS: Interactions that left the queue via overflow or transfer.
INFLOWINTERACTIONS: Interactions that entered the queue from another queue or overflow source.
I_INTERACTIONTIME: Interval total interaction time in seconds (per-interval aggregate).
I_WRAPUPTIME: Interval total wrap-up time in seconds.
I_STAFFTIME: Total time agents were staffed (logged in) during the interval, in seconds.
OUTOFFOCUSTIME: Total time agents were out-of-focus on this queue during the interval.
INTERACTION_OUTOFFOCUSTIME: Out-of-focus time occurring during active interactions.
WRAPUP_OUTOFFOCUSTIME: Out-of-focus time occurring during wrap-up.
I_OUTOFFOCUSTIME: Interval aggregate out-of-focus time.
INTERACTION_INFOCUSTIME: In-focus time during active interactions.
WRAPUP_INFOCUSTIME: In-focus time during wrap-up.
""",
    "agent": """
AGENT_ID: Unique agent identifier.
AGENT_NAME: Agent's display name.
AGENT_EMAIL: Agent's email address.
CHANNEL: Communication channel: phone, email, chat, etc.
SUB_CHANNEL: Channel direction: inbound or outbound.
INTERACTIONS: Total interactions handled by the agent during the interval.
WAITTIME: Total customer wait time before agent accepted, in seconds.
HOLDTIME: Total hold time in seconds.
INTERACTIONTIME: Total active interaction time in seconds.
WRAPUPTIME: Total wrap-up time in seconds.
HOLD_INTERACTIONS: Number of interactions where hold was used.
TRANSFERED_INTERACTIONS: Number of interactions transferred by this agent.
I_INTERACTIONTIME: Interval aggregate interaction time.
I_WRAPUPTIME: Interval aggregate wrap-up time.
I_RINGTIME: Total time interactions rang before the agent answered, in seconds.
I_AUXTIME: Total time agent spent in auxiliary (not-ready) states during the interval.
I_STAFFTIME: Total time the agent was staffed (logged in) during the interval.
TI_AVAILTIME: Total available time across the interval (staffed minus aux).
TI_STAFFTIME: Total staffed time across the interval.
TI_AUXTIME: Total aux time across the interval.
OUTOFFOCUSTIME: Total out-of-focus time across all states.
INTERACTION_OUTOFFOCUSTIME: Out-of-focus time during active interactions.
WRAPUP_OUTOFFOCUSTIME: Out-of-focus time during wrap-up.
INTERACTION_INFOCUSTIME: In-focus time during active interactions.
WRAPUP_INFOCUSTIME: In-focus time during wrap-up.
""",
    "agentAux": """
AGENT_ID: Unique agent identifier.
AGENT_NAME: Agent's display name.
AGENT_TAGS: Comma-separated list of tags assigned to the agent (e.g. team-alpha,support).
STATUS_TYPE: Login state category, e.g. Q Login, busy.
STATUS: Specific status name within the status type, e.g. Available, On Call.
AGENT_TIME_ZONE: The agent's configured time zone (IANA format, e.g. America/New_York).
I_STAFFTIME: Interval staffed time in seconds.
TI_STAFFTIME: Total staffed time across the interval.
I_AUXTIME: Interval aux time in seconds for this specific status.
TI_AUXTIME: Total aux time across the interval for this status.
""",
    "agentByQueue": """
AGENT_ID: Unique agent identifier.
AGENT_NAME: Agent's display name.
QUEUE_ID: Queue identifier the metrics are scoped to.
QUEUE_NAME: Display name of the queue.
CHANNEL: Communication channel.
SUB_CHANNEL: Channel direction.
INTERACTIONS: Interactions handled by this agent for this queue during the interval.
I_INTERACTIONTIME: Total interaction time in seconds.
I_WRAPUPTIME: Total wrap-up time in seconds.
HOLD_INTERACTIONS: Interactions where hold was used.
AUXIN_INTERACTIONS: Interactions where the agent entered an aux state during handling.
HOLDTIME: Total hold time in seconds.
TRANSFERED_INTERACTIONS: Interactions transferred by this agent.
AUXOUT_INTERACTIONS: Interactions where the agent exited an aux state during handling.
I_AUXINTIME: Total time spent entering aux states during interactions.
I_AUXOUTTIME: Total time spent exiting aux states during interactions.
ASSISTS: Number of supervisor assists received during interactions.
""",
    "agentLoginLogoutByQueue": """
SESSION_ID: Unique identifier for this login session.
QUEUE_ID: Queue the agent logged into.
AGENT_ID: Unique agent identifier.
LOGIN_TIME: UTC timestamp when the agent logged into this queue.
LOGOUT_TIME: UTC timestamp when the agent logged out. Empty string if still logged in.
LOGOUT_REASON: Reason for logout, e.g. Manual. Empty if still logged in.
""",
    "cxAgentLoginLogout": """
ID: Unique session record identifier.
USER_ID: Unique agent/user identifier.
STATUS_TYPE: Session type, e.g. CX Login.
STATUS: Agent status during this record: Available, Offline, etc.
START_TIME: Session start time in UTC.
END_TIME: Session end time in UTC. Empty string if session is still active.
DURATION: Total session duration in seconds. 0 if session is still active.
DURATION_AVAILABLE: Time in seconds the agent was in Available status.
DURATION_AWAY: Time in seconds the agent was in Away status.
DURATION_BUSY: Time in seconds the agent was in Busy status.
DURATION_OFFLINE: Time in seconds the agent was in Offline status.
IS_SYSTEM: 1 if this was a system-generated status change; 0 if agent-initiated.
IS_LOGIN: 1 if this record represents a login event.
CREATED_AT: UTC timestamp when this record was created.
UPDATED_AT: UTC timestamp when this record was last updated. Empty if unchanged since creation.
""",
    "interactionSegments": """
INTERACTION_SEGMENT_ID: Unique identifier for this segment.
INTERACTION_ID: The parent interaction identifier.
QUEUE_ID: Queue the interaction was routed through for this segment.
USER_ID: Agent assigned to this segment.
STATUS: Segment status, e.g. connected.
COMM_TYPE: Communication type, e.g. task, voice, chat.
SUB_COMM_TYPE: Sub-type, e.g. other, inbound.
WAIT_TIME: Customer wait time in seconds before agent connection.
HOLD_TIME: Hold time in seconds during this segment.
TIME_INTERACTING: Active interaction time in seconds.
WRAP_UP_TIME: Wrap-up time in seconds.
END_TIME: UTC timestamp when this segment ended.
EVENT: Event type for this segment record, e.g. status.
EVENT_DESC: Human-readable description of the event, e.g. connected.
SEGMENT_NUMBER: Sequence number of this segment within the interaction.
COMPLETION_TYPE: How the interaction was completed, if applicable.
COMPLETION_VALUE: Value associated with the completion type.
COMPLETION_DISPLAY_NAME: Display name for the completion outcome.
COMPLETION_TIME_UNIX: Unix timestamp of completion.
TRANSFER_LOCATION: Destination of a transfer, if applicable.
TRANSFER_RESULT: Outcome of the transfer.
XFER_LOC_QUEUE_ID: Queue ID of the transfer destination.
XFER_LOC_INTERACTION_ID: Interaction ID at the transfer destination.
SILENCE_SEGMENTS: Silence segment data, if recorded.
SILENCE_TOTAL: Total silence duration in seconds.
INTERACTION_TYPE: Type classification of the interaction.
INTERACTION_NOTES: Free-text notes attached to the interaction.
INTERACTION_RESULT: Outcome or result of the interaction.
INTERACTION_SUBJECT: Subject or topic of the interaction.
FIRST_LAST_NAME: Customer's name if available.
QUEUE_NAME: Display name of the queue.
SOURCE_PHONE_NUMBER: Customer's source phone number for voice interactions.
SOURCE_EMAIL: Customer's email address for email/digital interactions.
INTERACTION_TAGS: Tags associated with the interaction.
""",
    "workflowTrace": """
WORKFLOWSESSION_ID: Unique identifier for the workflow session.
WORKFLOWSESSION_INTERACTIONID: The interaction ID associated with this session.
UPDATEHISTORYITEM_ID: Unique identifier for this specific step execution record.
WORKFLOWSESSION_WORKFLOWNAME: Name of the workflow that was executed.
HISTORYITEM_DURATION_MS: Duration of this step in milliseconds.
UPDATEHISTORYITEM_STARTTIME: UTC timestamp when this step started.
UPDATEHISTORYITEM_ENDTIME: UTC timestamp when this step ended.
WORKFLOWSESSION_STARTTIME: UTC timestamp when the overall workflow session started.
WORKFLOWSESSION_ENDTIME: UTC timestamp when the overall workflow session ended.
WORKFLOWSESSION_DURATION_MS: Total workflow session duration in milliseconds.
FORMATTED_HISTORYITEM_DURATION: Human-readable step duration, e.g. 00:00:05.000.
UPDATEHISTORYITEM_WORKFLOWITEMID: ID of the workflow item (step definition) that was executed.
UPDATEHISTORYITEM_EXITPORT: Exit port taken from this step (e.g. success, failure).
UPDATEHISTORYITEM_PROMPT: Prompt presented to the caller or system at this step, if applicable.
UPDATEHISTORYITEM_INPUT: Input received at this step, if applicable.
UPDATEHISTORYITEM_ENDEVENT: Event that caused this step to end.
UPDATEHISTORYITEM_MODE: Execution mode, e.g. auto.
UPDATEHISTORYITEM_TYPE: Step type, e.g. PlayMessage, GetInput, RouteToQueue.
ITEM_DESCRIPTION: Descriptive label for the step type.
UPDATEHISTORYITEM_LABEL: User-defined label for this step in the workflow designer.
WORKFLOWSESSION_WORKFLOWID: ID of the workflow definition.
WORKFLOWSESSION_WORKFLOWVERSIONID: ID of the specific workflow version executed.
WORKFLOWSESSION_WORKFLOWVERSIONNUMBER: Version number of the workflow, e.g. 1.0.
WORKFLOWSESSION_DATA_VARIABLES: JSON object of workflow variables at session end.
WORKFLOWSESSION_DATA_SOURCE: Source data for the session, e.g. api.
WORKFLOWSESSION_COMMTYPE: Communication type for the session, e.g. voice.
WORKFLOWSESSION_CHANNELTYPE: Channel type, e.g. phone.
WORKFLOWSESSION_LANGUAGE: Language code for the session, e.g. en.
WORKFLOWSESSION_ISVOICE: true if this was a voice session.
WORKFLOWSESSION_ISCHAT: true if this was a chat session.
WORKFLOWSESSION_ISDIGITAL: true if this was a digital (non-voice) session.
WORKFLOWSESSION_ISTASK: true if this was a task session.
WORKFLOWSESSION_ISEMBEDDED: true if this was an embedded (sub-workflow) session.
""",
}


def _parse_docs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.strip().splitlines():
        name, _, words = line.partition(": ")
        out[name] = words
    return out


COMMON_COLUMN_DOCS: dict[str, str] = _parse_docs(_COMMON_DOCS)
#: dataset → column → the guide's description
COLUMN_DOCS: dict[str, dict[str, str]] = {
    name: _parse_docs(text) for name, text in _DATASET_DOCS.items()
}


def column_description(dataset: str, column: str) -> str:
    """The vendor guide's description of ``column`` in ``dataset`` (its own, else the
    guide's common fields); "" when the guide does not describe it."""
    own = COLUMN_DOCS.get(dataset, {})
    return own.get(column) or COMMON_COLUMN_DOCS.get(column, "")


#: The column that names a record's interaction, per dataset (archive/queries/interactions.py
#: and the search index's rule read it): an interaction is an
#: INTERACTION_ID (interactionSegments, mpccdr, transcript) or a
#: WORKFLOWSESSION_INTERACTIONID (workflowTrace). Every other dataset's records stand alone.
INTERACTION_COLUMN: dict[str, str] = {
    "interactionSegments": "INTERACTION_ID",
    "workflowTrace": "WORKFLOWSESSION_INTERACTIONID",
    "mpccdr": "INTERACTION_ID",
    "transcript": "INTERACTION_ID",
}
