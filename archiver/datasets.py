"""The 13 Historical API datasets: names, descriptions, entitlement, columns and row keys.

This registry is shared by the simulator (which serves these columns), the client (which
checks dataset names before any request) and the archive (which keys rows by ``key``).
Columns of the five datasets the vendor guide leaves undocumented are our simulator's
plausible choice; a real tenant's ``columnHeaders`` are always authoritative.
"""

from __future__ import annotations

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
    #: archive keys by ROW_ID whenever columnHeaders carry it; see archive/keys.py). Kept
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


class UnknownDatasetError(ValueError):
    """A dataset name that is not one of the 13 the API serves."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown dataset {name!r}. Valid datasets: {', '.join(DATASET_NAMES)}.")
        self.name = name


def get_dataset(name: str) -> Dataset:
    """Return the registry entry for ``name`` or raise :class:`UnknownDatasetError`."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(name) from None
