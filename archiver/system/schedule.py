"""Unattended daily archiving: ``archiver pull --incremental`` run by the operating system.

On Linux, :func:`install` writes a systemd user service and timer
(``$XDG_CONFIG_HOME/systemd/user/archiver-pull.{service,timer}``) and enables the timer;
elsewhere :func:`entries` gives the equivalent Task Scheduler command (Windows) or launchd
agent (macOS) to install by hand. The job runs the installed executable by its absolute path
(the frozen app, or this Python with ``-m archiver``): no ``archiver`` on PATH is needed.

The scheduled pull reads the client secret from the OS keyring, so installing refuses while
the keyring does not hold it (``archiver login`` first). It runs with ``--unattended``, which
its ``pull started`` audit entry records. A scheduled pull that finds the archive busy (the
desktop app pulling into it) exits 6 and changes nothing; the next day's run continues from
the archive's last completed chunk.

This module is the operating system's half: the entries, systemd, and what the schedule
asks for checked on its own (:func:`validate`). The use case
(:mod:`archiver.services.schedule`) adds what needs the keyring and the archive: the
secret and a starting point checked before :func:`install_units`, and the last unattended
run read from the audit log for :func:`status`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from archiver import outputs
from archiver.api.tenant import Tenant
from archiver.datasets import DATASET_NAMES, resolve_name
from archiver.timerange import parse_bound, parse_lookback

UNIT = "archiver-pull"
SERVICE = f"{UNIT}.service"
TIMER = f"{UNIT}.timer"
LAUNCHD_LABEL = "com.example.archiver.pull"
TASK_NAME = "archiver daily pull"
#: the first line of the service unit: what was installed, for `status` and the app
MARK = "# archiver-schedule: "
#: every unit archiver writes says so: only such a file is replaced or removed
WRITTEN_BY = "# Written by `archiver schedule install`"
PLATFORMS = ("linux", "windows", "macos")
_SAFE = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")


class ScheduleError(Exception):
    """The schedule cannot be installed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Schedule:
    """What runs every day: an incremental pull of these datasets into this archive."""

    archive: Path
    client_id: str
    customer: str | None = None
    base_url: str | None = None
    ca_bundle: str | None = None
    datasets: tuple[str, ...] = ()  # empty: --all
    at: str = "02:30"  # local time, HH:MM
    lookback: str = "2d"
    start: str | None = None  # --from: where a dataset with nothing archived yet begins
    #: --allow-insecure-http: a plain-http base URL to another machine, accepted explicitly
    allow_insecure_http: bool = False

    def tenant(self) -> Tenant:
        if self.customer:
            return Tenant.from_customer(self.customer, self.ca_bundle)
        if self.base_url:
            return Tenant.from_base_url(self.base_url, self.ca_bundle, self.allow_insecure_http)
        raise ScheduleError("name the tenant: --customer ID or --base-url URL")

    def names(self) -> tuple[str, ...]:
        return self.datasets or DATASET_NAMES

    def hour_minute(self) -> tuple[int, int]:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", self.at.strip())
        if not m:
            raise ScheduleError(f"--at {self.at!r}: give a local time as HH:MM, e.g. 02:30")
        return int(m.group(1)), int(m.group(2))

    def pull_args(self) -> list[str]:
        """The arguments after the executable: the incremental pull, for monitoring."""
        args = ["pull"]
        args += (
            ["--customer", self.customer] if self.customer else ["--base-url", str(self.base_url)]
        )
        if self.ca_bundle:
            args += ["--ca-bundle", self.ca_bundle]
        if self.allow_insecure_http and not self.customer:
            args.append("--allow-insecure-http")
        args += ["--client-id", self.client_id]
        for d in self.datasets:
            args += ["--dataset", d]
        if not self.datasets:
            args.append("--all")
        args += ["--incremental", "--lookback", self.lookback]
        if self.start:
            args += ["--from", self.start]
        args += ["--archive", str(self.archive), "--json", "--unattended"]
        return args

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["archive"] = str(self.archive)
        d["datasets"] = list(self.datasets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schedule:
        return cls(
            Path(d["archive"]),
            str(d["client_id"]),
            d.get("customer"),
            d.get("base_url"),
            d.get("ca_bundle"),
            tuple(d.get("datasets") or ()),
            str(d.get("at") or "02:30"),
            str(d.get("lookback") or "2d"),
            d.get("start"),
            bool(d.get("allow_insecure_http", False)),
        )


def this_platform() -> str:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def executable() -> list[str]:
    """This program by absolute path: the frozen app's command line executable, or this
    Python with ``-m archiver`` (a virtual environment's interpreter is kept as it is, not
    resolved: its link is what selects the environment)."""
    exe = Path(os.path.abspath(sys.executable))
    if getattr(sys, "frozen", False):
        if exe.stem.lower() == "archiver-gui":  # the windowed variant: use its console twin
            exe = exe.with_name("archiver" + exe.suffix)
        return [str(exe)]
    return [str(exe), "-m", "archiver"]


#: where the app usually is on a machine this one prints an entry for
ELSEWHERE = {
    "windows": [r"C:\path\to\archiver\archiver.exe"],
    "macos": ["/Applications/Archiver.app/Contents/MacOS/archiver"],
}


def command(s: Schedule, exe: list[str] | None = None) -> list[str]:
    return [*(exe or executable()), *s.pull_args()]


# -- the entries ----------------------------------------------------------------------------
def _systemd_quote(arg: str) -> str:
    """One ExecStart word: quoted when needed, % and $ escaped (systemd.service(5))."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if _SAFE.match(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _proxy_environment() -> list[str]:
    """HTTPS_PROXY / NO_PROXY of this shell for the service (systemd does not pass the
    shell's environment on); never one that carries a password."""
    lines = []
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        value = os.environ.get(name)
        if not value or (name.lower() == "https_proxy" and urlsplit(value).password):
            continue
        lines.append(f"Environment={_systemd_quote(f'{name}={value}')}")
    return lines


def systemd_units(s: Schedule, exe: list[str] | None = None) -> dict[str, str]:
    """The service and timer files, by name."""
    hour, minute = s.hour_minute()
    exec_start = " ".join(_systemd_quote(a) for a in command(s, exe))
    service = "\n".join(
        [
            MARK + json.dumps(s.as_dict(), sort_keys=True),
            f"{WRITTEN_BY}; `archiver schedule remove` deletes it.",
            "[Unit]",
            f"Description=archiver: incremental pull into {str(s.archive).replace('%', '%%')}",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={exec_start}",
            *_proxy_environment(),
            "# Ctrl-C's way out: stop after the pages in flight, everything committed is kept",
            "KillSignal=SIGINT",
            "TimeoutStartSec=12h",
            "TimeoutStopSec=2min",
            "Nice=10",
            "# the files it creates are private (the command sets this umask too)",
            "UMask=0077",
            "",
        ]
    )
    timer = "\n".join(
        [
            f"{WRITTEN_BY}; `archiver schedule remove` deletes it.",
            "[Unit]",
            f"Description=archiver: daily incremental pull at {hour:02d}:{minute:02d}",
            "",
            "[Timer]",
            f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00",
            "# a day missed while the machine was off runs at the next start",
            "Persistent=true",
            f"Unit={SERVICE}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return {SERVICE: service, TIMER: timer}


def launchd_plist(s: Schedule, exe: list[str] | None = None) -> str:
    """A launchd agent for ``~/Library/LaunchAgents/<label>.plist`` (macOS). Its umask is
    077 (``Umask`` 63), so the monitoring output it appends to (``scheduled-pull.json``,
    ``.err``: a server's words may be in them) is created private."""
    hour, minute = s.hour_minute()
    logs = "~/Library/Logs/archiver/scheduled-pull"
    args = "\n".join(f"    <string>{escape(a)}</string>" for a in command(s, exe))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{args}
  </array>
  <key>StartCalendarInterval</key>
  <dict>
    <key>Hour</key>
    <integer>{hour}</integer>
    <key>Minute</key>
    <integer>{minute}</integer>
  </dict>
  <key>Umask</key>
  <integer>63</integer>
  <key>StandardOutPath</key>
  <string>{logs}.json</string>
  <key>StandardErrorPath</key>
  <string>{logs}.err</string>
</dict>
</plist>
"""


def _windows_quote(arg: str) -> str:
    return arg if arg and not re.search(r'[\s"]', arg) else '"' + arg.replace('"', '\\"') + '"'


def schtasks(s: Schedule, exe: list[str] | None = None) -> str:
    """The Task Scheduler command that creates the daily task (Windows)."""
    hour, minute = s.hour_minute()
    run = " ".join(_windows_quote(a) for a in command(s, exe))
    tr = '"' + run.replace('"', '\\"') + '"'
    return f'schtasks /Create /F /TN "{TASK_NAME}" /SC DAILY /ST {hour:02d}:{minute:02d} /TR {tr}'


def entries(s: Schedule, platform: str, exe: list[str] | None = None) -> dict[str, str]:
    """What to install on ``platform``: file name (or "command") → text."""
    if platform == "linux":
        return systemd_units(s, exe)
    if platform == "macos":
        return {f"~/Library/LaunchAgents/{LAUNCHD_LABEL}.plist": launchd_plist(s, exe)}
    if platform == "windows":
        return {"command": schtasks(s, exe)}
    raise ScheduleError(f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")


# -- checks ---------------------------------------------------------------------------------
def validate(s: Schedule) -> Tenant:
    """What the schedule asks for, checked on its own (ScheduleError naming the first
    problem); returns its tenant. The keyring and the archive are checked by the use case
    (:func:`archiver.services.schedule.check`)."""
    tenant = _tenant(s)
    s.hour_minute()
    try:
        parse_lookback(s.lookback)
        for d in s.datasets:
            resolve_name(d)
        if s.start:
            parse_bound(s.start, is_end=False, daily=False)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None
    if not s.archive.is_absolute():
        raise ScheduleError(f"the archive path must be absolute: {s.archive}")
    if not s.client_id:
        raise ScheduleError("no client id: pass --client-id or set ARCHIVER_CLIENT_ID")
    return tenant


def _tenant(s: Schedule) -> Tenant:
    try:
        return s.tenant()
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None


def tenant_flag(s: Schedule) -> str:
    """The tenant as the command line names it: ``--customer ID`` or ``--base-url URL``."""
    return f"--customer {s.customer}" if s.customer else f"--base-url {s.base_url}"


# -- systemd --------------------------------------------------------------------------------
def unit_dir() -> Path:
    """systemd's user unit directory: ``$XDG_CONFIG_HOME/systemd/user``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def _systemctl(*args: str) -> tuple[bool, str]:
    """(succeeded, output or why not) of ``systemctl --user ARGS``."""
    exe = shutil.which("systemctl")
    if exe is None:
        return False, "systemctl is not installed"
    try:
        out = subprocess.run(
            [exe, "--user", *args], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    text = (out.stdout.strip() or out.stderr.strip()).strip()
    return out.returncode == 0, text


@dataclass
class Changes:
    """What install or remove did, line by line, and whether all of it worked."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True
    files: dict[str, str] = field(default_factory=dict)  # written: path → text

    def say(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, line: str) -> None:
        self.lines.append(line)
        self.ok = False


def _read_unit(path: Path) -> str | None:
    """A unit file's text, read as an app file (never through a link, never a FIFO or a
    device): None when there is none; :class:`outputs.Refused` when it is not a file."""
    try:
        data = outputs.read_app_file(path, what="the unit")
    except FileNotFoundError:
        return None
    return data.decode("utf-8", "replace")


def not_ours(where: Path | None = None) -> list[str]:
    """Why a unit at the schedule's paths is not archiver's to replace or remove: a link, a
    FIFO, a device, or a file archiver did not write (it says so in its own lines)."""
    d = where or unit_dir()
    found = []
    for name in (SERVICE, TIMER):
        try:
            text = _read_unit(d / name)
        except (outputs.Refused, OSError) as exc:
            found.append(str(exc))
            continue
        if text is not None and WRITTEN_BY not in text:
            found.append(
                f"{d / name} was not written by archiver: remove or rename it yourself first"
            )
    return found


def install_units(s: Schedule, *, enable: bool = True) -> Changes:
    """Write the two units, and (``enable``) reload systemd and enable the timer. The use
    case (:func:`archiver.services.schedule.install`) checks the schedule first. A unit
    archiver did not write (or a link, a FIFO, a device at its path) is never replaced."""
    done = Changes()
    where = unit_dir()
    where.mkdir(parents=True, exist_ok=True)
    for why in not_ours(where):
        done.fail(f"not installed: {why}")
    if not done.ok:
        return done
    for name, text in systemd_units(s).items():
        path = where / name
        try:
            outputs.write_app_file(path, text.encode("utf-8"), what="the unit", replace=True)
        except (outputs.Refused, OSError) as exc:
            done.fail(f"not written: {exc}")
            return done
        done.files[str(path)] = text
        done.say(f"wrote {path}")
    if enable:
        _enable(done)
    else:
        done.say(
            f"not enabled (--no-enable): systemctl --user daemon-reload && systemctl --user enable --now {TIMER}"
        )
    done.lines += _advice()
    return done


def _enable(done: Changes) -> None:
    for args in (("daemon-reload",), ("enable", "--now", TIMER)):
        ok, text = _systemctl(*args)
        if not ok:
            done.fail(
                f"systemctl --user {' '.join(args)} failed: {text or 'no reason given'}. The units "
                f"are written; enable them in your session: systemctl --user daemon-reload && "
                f"systemctl --user enable --now {TIMER}"
            )
            return
    done.say(f"enabled {TIMER}")


def _advice() -> list[str]:
    out = [
        "The scheduled pull reads the client secret from the OS keyring: it must be unlocked "
        "when the timer fires (a desktop keyring unlocks at login)."
    ]
    if not lingering():
        user = _user()
        out.append(
            "systemd runs your timers only while you are logged in; to run them without a "
            f"login: loginctl enable-linger {user}"
        )
    return out


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name
        return "$USER"


def lingering() -> bool | None:
    """Whether systemd keeps this user's manager running without a login (None: unknown)."""
    try:
        return Path("/var/lib/systemd/linger", _user()).exists()
    except OSError:
        return None


def remove(*, enable: bool = True) -> Changes:
    """Disable the timer (``enable``: through systemctl) and delete both units."""
    done = Changes()
    where = unit_dir()
    paths = [where / TIMER, where / SERVICE]
    if not any(p.exists() for p in paths):
        done.say(f"no schedule installed in {where}")
        return done
    if enable:
        ok, text = _systemctl("disable", "--now", TIMER)
        (done.say if ok else done.fail)(
            f"disabled {TIMER}" if ok else f"systemctl --user disable --now {TIMER}: {text}"
        )
    refused = not_ours(where)
    for why in refused:
        done.fail(f"not removed: {why}")
    for p in paths:
        if p.exists() and not any(str(p) in why for why in refused):
            p.unlink()
            done.say(f"removed {p}")
    if enable:
        _systemctl("daemon-reload")
    return done


# -- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LastRun:
    """The newest unattended run recorded in an archive's audit log."""

    run_id: str
    started_at: str
    finished_at: str | None = None
    status: str | None = None  # None: no end recorded (still running, or killed)
    exit_code: int | None = None
    rows: int = 0
    new_versions: int = 0
    error: str | None = None

    def describe(self) -> str:
        when = self.started_at[:16].replace("T", " ") + " UTC"
        if self.status is None:
            return f"{when}: no end recorded (running, or stopped before it could record one)"
        text = f"{when}: {self.status} (exit code {self.exit_code})"
        text += f", {self.rows:,} rows received, {self.new_versions:,} new row versions"
        return text + (f"; {self.error}" if self.error else "")


@dataclass
class ScheduleStatus:
    platform: str
    unit_dir: Path
    installed: bool = False
    schedule: Schedule | None = None  # what the installed service runs
    enabled: str | None = None  # systemd's word (enabled, disabled, …); None: unknown
    next_run: str | None = None
    last_result: str | None = None  # systemd's account of the service's last run
    note: str | None = None  # why systemd could not say more
    linger: bool | None = None
    archive: Path | None = None  # the archive the last run was read from
    last_run: LastRun | None = None

    def lines(self) -> list[str]:
        if self.platform != "linux":
            out = [
                f"On {self.platform} the schedule is the Task Scheduler / launchd entry that "
                "`archiver schedule install` prints; its state is there."
            ]
        elif not self.installed:
            out = [f"Daily archiving: not scheduled (no {TIMER} in {self.unit_dir})."]
        else:
            out = self._installed_lines()
        if self.archive is not None:
            run = self.last_run.describe() if self.last_run else "none recorded"
            out.append(f"Last unattended run into {self.archive}: {run}")
        return out

    def _installed_lines(self) -> list[str]:
        s = self.schedule
        out = [
            f"Daily archiving: installed in {self.unit_dir} ({self.enabled or 'state unknown'})."
        ]
        if s is not None:
            what = ", ".join(s.datasets) if s.datasets else "all datasets"
            who = s.customer or s.base_url
            out.append(f"Runs daily at {s.at}: {what} of {who} into {s.archive}")
        if self.next_run:
            out.append(f"Next run: {self.next_run}")
        if self.last_result:
            out.append(f"Last run (systemd): {self.last_result}")
        if self.note:
            out.append(f"systemd: {self.note}")
        if self.linger is False:
            out.append("Runs only while you are logged in (no linger: loginctl enable-linger).")
        return out

    def summary(self) -> str:
        """One line for the app's Download tab."""
        if self.platform != "linux":
            text = (
                f"Daily archiving: see {'Task Scheduler' if self.platform == 'windows' else 'launchd'} "
                "(archiver schedule install prints the entry)"
            )
        elif not self.installed:
            text = "Daily archiving: not scheduled"
        else:
            text = f"Daily archiving: installed ({self.enabled or 'state unknown'})"
            if self.next_run:
                text += f", next run {self.next_run}"
            if self.schedule and self.archive and self.schedule.archive != self.archive:
                text += f" (into another archive: {self.schedule.archive})"
        if self.last_run:
            text += f"; last unattended run {self.last_run.describe()}"
        return text + "."


def installed_schedule() -> Schedule | None:
    """What the installed service runs, from its first line (None when not installed)."""
    path = unit_dir() / SERVICE
    try:
        first = (_read_unit(path) or "").splitlines()[0]
    except (OSError, IndexError, outputs.Refused):
        return None
    if not first.startswith(MARK):
        return None
    try:
        return Schedule.from_dict(json.loads(first[len(MARK) :]))
    except (ValueError, KeyError, TypeError):
        return None


def status(*, ask_systemd: bool = True) -> ScheduleStatus:
    """The schedule's state as the operating system has it (the use case,
    :func:`archiver.services.schedule.status`, adds the last unattended run)."""
    st = ScheduleStatus(this_platform(), unit_dir())
    if st.platform == "linux":
        st.installed = (st.unit_dir / TIMER).exists() and (st.unit_dir / SERVICE).exists()
        st.schedule = installed_schedule() if st.installed else None
        if st.installed and ask_systemd:
            _ask_systemd(st)
        st.linger = lingering() if st.installed else None
    return st


def _ask_systemd(st: ScheduleStatus) -> None:
    ok, text = _systemctl("is-enabled", TIMER)
    if not ok and text.strip() not in ("disabled", "masked", "static"):
        st.note = f"systemctl --user cannot tell ({text or 'no answer'})"
        return
    st.enabled = text.strip() or None
    ok, text = _systemctl("show", TIMER, "-p", "NextElapseUSecRealtime", "--value")
    st.next_run = text.strip() if ok and text.strip() else None
    ok, text = _systemctl(
        "show", SERVICE, "-p", "Result", "-p", "ExecMainStatus", "-p", "ExecMainExitTimestamp"
    )
    if ok:
        props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if props.get("ExecMainExitTimestamp"):
            st.last_result = (
                f"{props['ExecMainExitTimestamp']}: {props.get('Result', '?')} "
                f"(exit code {props.get('ExecMainStatus', '?')})"
            )
