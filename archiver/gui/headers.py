"""Column headers people can read: the API's name in full (sections sized to it), the
vendor guide's description as a tooltip, and an optional friendly label ("Wait time (s)"
for WAIT_TIME). The API's names stay the default: they are what the evidence holds."""

from __future__ import annotations

import textwrap

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableView

from archiver.datasets import DATASETS, column_description

#: Whole labels where the words alone read badly.
LABELS = {
    "MAXOCWTIME": "Max observed wait time",
    "FIRST_LAST_NAME": "Customer name",
    "COMMIT_TS": "Committed at",
    "INTERVAL": "Interval length",
    "COMPLETION_TIME_UNIX": "Completion time (Unix)",
    "FORMATTED_HISTORYITEM_DURATION": "Step duration (formatted)",
    "WRAP_UP_TIME": "Wrap-up time",
}

#: Words of the API's names, glued or abbreviated, as they read.
WORDS = {
    "ID": "ID",
    "TS": "timestamp",
    "I": "interval",
    "TI": "total",
    "ABN": "abandoned",
    "XFER": "transfer",
    "LOC": "location",
    "COMM": "communication",
    "DESC": "description",
    "OS": "OS",
    "CDR": "CDR",
    "TRANSFERED": "transferred",
    "WRAPUP": "wrap-up",
    "AUXIN": "aux-in",
    "AUXOUT": "aux-out",
    "STARTTIME": "start time",
    "ENDTIME": "end time",
    "WAITTIME": "wait time",
    "HOLDTIME": "hold time",
    "INTERACTIONTIME": "interaction time",
    "WRAPUPTIME": "wrap-up time",
    "STAFFTIME": "staffed time",
    "AUXTIME": "aux time",
    "RINGTIME": "ring time",
    "AVAILTIME": "available time",
    "AUXINTIME": "aux-in time",
    "AUXOUTTIME": "aux-out time",
    "OUTOFFOCUSTIME": "out-of-focus time",
    "INFOCUSTIME": "in-focus time",
    "ABNWAITTIME": "abandoned wait time",
    "INTERACTIONSOFFERED": "interactions offered",
    "ABNINTERACTIONS": "abandoned interactions",
    "OUTFLOWINTERACTIONS": "outflow interactions",
    "INFLOWINTERACTIONS": "inflow interactions",
    "UPDATEHISTORYITEM": "step",
    "HISTORYITEM": "step",
    "WORKFLOWSESSION": "session",
    "INTERACTIONID": "interaction ID",
    "WORKFLOWNAME": "workflow name",
    "WORKFLOWITEMID": "workflow item ID",
    "WORKFLOWID": "workflow ID",
    "WORKFLOWVERSIONID": "workflow version ID",
    "WORKFLOWVERSIONNUMBER": "workflow version",
    "VERSIONNUMBER": "version",
    "EXITPORT": "exit port",
    "ENDEVENT": "end event",
    "COMMTYPE": "communication type",
    "CHANNELTYPE": "channel type",
    "ISVOICE": "is voice",
    "ISCHAT": "is chat",
    "ISDIGITAL": "is digital",
    "ISTASK": "is task",
    "ISEMBEDDED": "is embedded",
}

_UNITS = (("millisecond", "ms"), ("in seconds", "s"), ("seconds", "s"), ("in minutes", "min"))


def _unit(words: list[str], typ: str, description: str) -> str:
    """The unit of a number column: from the guide's words, else from its name."""
    if typ != "number":
        return ""
    if words and words[-1] == "MS":
        return "ms"
    text = description.lower()
    for phrase, unit in _UNITS:
        if phrase in text:
            return unit
    if words and (words[-1].endswith("TIME") or "DURATION" in words):
        return "s"
    return ""


def friendly_label(dataset: str, name: str, typ: str) -> str:
    """A reading label for an API column name: ``WAIT_TIME`` → ``Wait time (s)``,
    ``UPDATEHISTORYITEM_STARTTIME`` → ``Step start time (UTC)``."""
    words = name.split("_")
    unit = _unit(words, typ, column_description(dataset, name))
    if name in LABELS:
        text = LABELS[name]
    else:
        kept = [w for w in words if w not in ("UTC", "MS") and w]
        text = " ".join(WORDS.get(w, w.lower()) for w in kept) or name
        text = text[0].upper() + text[1:]
    if typ == "datetime" and "(UTC)" not in text:
        unit = "UTC"
    return f"{text} ({unit})" if unit else text


def header_tooltip(dataset: str, name: str, typ: str) -> str:
    """The column's API name and type, and what the vendor guide says it holds."""
    described = column_description(dataset, name)
    lines = [f"{name} ({typ})"]
    if described:
        lines.append(described)
    elif dataset in DATASETS and not DATASETS[dataset].documented:
        lines.append(
            "The vendor guide does not document this dataset's columns: the tenant's "
            "columnHeaders are authoritative."
        )
    else:
        lines.append("The vendor guide does not describe this column.")
    # in lines a reader can follow: Qt does not wrap a plain-text tooltip
    return "\n".join(textwrap.fill(line, 70) for line in lines)


#: A column is never made wider than this to fit its values (the header's name always fits).
MAX_CONTENT_WIDTH = 360
#: Rows measured to fit a column to its values: a lazy model is never read through.
MEASURED_ROWS = 30  # a screenful: measuring more delays the first paint


def fit_columns(view: QTableView) -> None:
    """Size every column to its full header text (never clipped) and to its values (the
    first :data:`MEASURED_ROWS` from the top of the view, capped at
    :data:`MAX_CONTENT_WIDTH`); the user may resize them afterwards."""
    header = view.horizontalHeader()
    model = view.model()
    if model is None:
        return
    for section in range(model.columnCount()):
        needed = header.sectionSizeHint(section)
        if model.rowCount():
            needed = max(needed, min(view.sizeHintForColumn(section), MAX_CONTENT_WIDTH))
        header.resizeSection(section, needed)


def readable_header(view: QTableView) -> None:
    """Headers aligned left (a column narrowed by hand shows the start of its name, elided
    at the end, not clipped at both) and interactive; :func:`fit_columns` sizes them."""
    header = view.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setTextElideMode(Qt.TextElideMode.ElideRight)
    bound_measuring(view)


def bound_measuring(view: QTableView, rows: int = MEASURED_ROWS) -> None:
    """Fit columns to at most ``rows`` rows (Qt's default measures 1,000, which a lazy
    model would read in). Qt 6.11 takes a column's precision from the horizontal header;
    both are set, so either reading is bounded."""
    view.horizontalHeader().setResizeContentsPrecision(rows)
    view.verticalHeader().setResizeContentsPrecision(rows)
