"""``archiver simulate``: serve the simulated Historical API on loopback."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from archiver.exitcodes import FAILED, OK, USAGE
from archiver.simulator import DEFAULT_CLIENT_SECRET, SimConfig, Simulator


def run(args: argparse.Namespace) -> int:
    try:
        epoch = datetime.strptime(args.epoch, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        print(f"archiver simulate: --epoch {args.epoch!r} is not YYYY-MM-DD", file=sys.stderr)
        return USAGE
    cfg = SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        rows_per_interval=args.rows_per_interval,
        cache_buckets=args.cache_buckets,
        client_id=args.client_id,
        client_secret=args.client_secret,
        epoch=epoch,
        ending=args.ending,
        commit_ts=args.commit_ts,
        omit_row_id=tuple(dict.fromkeys(args.omit_row_id)),
        shared_ids=args.shared_ids,
        extra_columns=tuple(args.extra_column),
        extra_column_datasets=tuple(dict.fromkeys(args.extra_column_dataset)),
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        accepted_first=args.accepted_first,
        token_ttl=args.token_ttl,
        entitled=not args.no_entitlement,
        redirect_401=args.redirect_401,
        escaped_links=args.escaped_links,
        garble_rate=args.garble_rate,
        truncate_rate=args.truncate_rate,
    )
    sim = Simulator(cfg)
    try:
        url = sim.bind()
    except OSError as exc:
        print(
            f"archiver simulate: cannot listen on {args.host}:{args.port}: {exc.strerror}. "
            "Choose another --port (0 picks a free one).",
            file=sys.stderr,
        )
        return FAILED
    print(url, flush=True)
    print(_credentials(cfg), flush=True)
    omitted = ", ".join(cfg.omit_row_id) or "none"
    print(
        f"readings: ending {cfg.ending}; ROW_ID omitted from: {omitted}; "
        f"shared ids: {'on' if cfg.shared_ids else 'off'}; COMMIT_TS form: {cfg.commit_ts}",
        flush=True,
    )
    if cfg.extra_columns:
        names = ", ".join(repr(n) for n, _ in cfg.extra_columns[:10])
        more = f" and {len(cfg.extra_columns) - 10:,} more" if len(cfg.extra_columns) > 10 else ""
        where = ", ".join(cfg.extra_column_datasets) or "every dataset"
        print(f"extra columns on {where}: {names}{more}", flush=True)
    print(
        "control API: POST /_simulator/late-updates, GET|POST /_simulator/faults, "
        "GET /_simulator/stats. Ctrl-C stops.",
        flush=True,
    )
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    return OK


def _credentials(cfg: SimConfig) -> str:
    """The banner's second line: the credentials a client uses with this simulator. They
    are the simulator's own, not a tenant's; the documented demo secret is shown, one given
    with --client-secret is not repeated on the screen."""
    secret = (
        cfg.client_secret
        if cfg.client_secret == DEFAULT_CLIENT_SECRET
        else "the one given with --client-secret"
    )
    return f"demo credentials: client id {cfg.client_id}, client secret {secret}"
