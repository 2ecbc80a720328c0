"""The arguments of ``archiver case create|add|remove|list|show|close`` and ``archiver hold
place|release``."""

from __future__ import annotations

import argparse

from archiver.cli import exits
from archiver.cli.common import add_archive
from archiver.cli.grammar.base import actions, command, handles

HANDLERS = "archiver.cli.case_cmds"

CUSTODY = (
    "Every change is an entry of the archive's audit log (who: the OS user; when: UTC), "
    "and verify-archive makes the case tables again from those entries."
)


def _name(p: argparse.ArgumentParser, what: str = "the case") -> None:
    p.add_argument("name", metavar="NAME", help=f"{what}'s name (any case of its letters)")


def case(c: argparse.ArgumentParser) -> None:
    sub = actions(
        c,
        "Cases: the interactions of one investigation (a complaint, a regulator's request), "
        "each with how it came in (by hand, or the search that found it), who added it and "
        "when. " + CUSTODY,
    )
    create = command(sub, "create", "open a new case")
    handles(
        create,
        f"{HANDLERS}:run_create",
        exits.CASE_CREATE,
        description="Open a new case. A name is used once (whatever the case of its "
        "letters). " + CUSTODY,
    )
    create.add_argument("name", metavar="NAME", help="the case's name (at most 100 characters)")
    create.add_argument(
        "--reason", required=True, metavar="TEXT", help="why the case exists (recorded)"
    )
    create.add_argument(
        "--reference",
        metavar="ID",
        help="an outside reference: a complaint, ticket or request number",
    )
    add_archive(create)

    add = command(sub, "add", "add interactions by id, or those a search finds")
    handles(
        add,
        f"{HANDLERS}:run_add",
        exits.CASE_ADD,
        description="Add interactions to an open case: by id (each must be named by an "
        "archived record; unknown ids are named and nothing is added), or every interaction "
        "a search finds (the query language of `archiver search`; the case records the query, "
        "range, time and hit count with each interaction, and the search is in the access "
        "log). Interactions in the case already are left as they are. " + CUSTODY,
    )
    _name(add)
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--interaction",
        action="append",
        metavar="ID",
        help="an interaction id (INTERACTION_ID, or WORKFLOWSESSION_INTERACTIONID); repeatable",
    )
    how.add_argument("--search", metavar="QUERY", help="add every interaction this search finds")
    add.add_argument(
        "--from",
        dest="start",
        metavar="START",
        help="with --search: the first 15-minute interval (or day) searched, UTC",
    )
    add.add_argument(
        "--to",
        dest="end",
        metavar="END",
        help="with --search: the last interval (or day) searched, included",
    )
    add_archive(add)

    remove = command(sub, "remove", "take an interaction out of an open case")
    handles(
        remove,
        f"{HANDLERS}:run_remove",
        exits.CASE_REMOVE,
        description="Take an interaction out of an open case (refused while the case is under "
        "legal hold: release the hold first). " + CUSTODY,
    )
    _name(remove)
    remove.add_argument("--interaction", required=True, metavar="ID", help="the interaction")
    remove.add_argument("--reason", metavar="TEXT", help="why (recorded)")
    add_archive(remove)

    lst = command(sub, "list", "the cases: state, hold, interactions")
    handles(
        lst,
        f"{HANDLERS}:run_list",
        exits.CASE_LIST,
        description="Every case of the archive, oldest first: open or closed, under legal hold "
        "or not, its interactions and searches, who opened it and why.",
    )
    add_archive(lst)
    lst.add_argument("--json", action="store_true", help="print one JSON document")

    show = command(sub, "show", "one case: its interactions, searches, holds and history")
    handles(
        show,
        f"{HANDLERS}:run_show",
        exits.CASE_SHOW,
        description="One case whole: why it exists, its state and legal hold, its searches, "
        "each interaction (when, channel, customer, queue, agents, subject; added by whom, "
        "when, how) and every audit entry that names it. Showing the interactions is "
        "recorded in the access log (`interaction opened`).",
    )
    _name(show)
    add_archive(show)
    show.add_argument("--json", action="store_true", help="print one JSON document")

    close = command(sub, "close", "close a case: it can no longer change")
    handles(
        close,
        f"{HANDLERS}:run_close",
        exits.CASE_CLOSE,
        description="Close a case: no interaction can be added or removed afterwards, and no "
        "hold placed (refused while a legal hold is in place: release it first). " + CUSTODY,
    )
    _name(close)
    close.add_argument("--reason", metavar="TEXT", help="why (recorded)")
    add_archive(close)


def hold(h: argparse.ArgumentParser) -> None:
    sub = actions(
        h,
        "Legal holds: while a case is under hold, nothing of its interactions may be "
        "disposed of or erased, and no interaction may leave the case. Placing and releasing "
        "are entries of the archive's audit log.",
    )
    place = command(sub, "place", "place a legal hold on a case")
    handles(
        place,
        f"{HANDLERS}:run_hold_place",
        exits.HOLD_PLACE,
        description="Place a legal hold on an open case (and so on every interaction it "
        "holds, and any added later). Held interactions are marked wherever they appear.",
    )
    _name(place)
    place.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded)")
    add_archive(place)

    release = command(sub, "release", "release the legal hold on a case")
    handles(
        release,
        f"{HANDLERS}:run_hold_release",
        exits.HOLD_RELEASE,
        description="Release the legal hold in place on a case (open or closed).",
    )
    _name(release)
    release.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded)")
    add_archive(release)
