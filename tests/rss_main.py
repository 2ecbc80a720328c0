"""Run ``archiver ARGS`` and write the process's own peak RSS (KiB) to a file.

``python tests/rss_main.py RSS_FILE ARGS…``. The figure is VmHWM from /proc/self/status:
the high-water mark of this process's memory since its exec. (ru_maxrss would not do: Linux
carries the parent's high-water mark over fork and exec, so a child of a large pytest
process would report the parent's size.)
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: the best there is


if __name__ == "__main__":
    from archiver.cli.main import main

    out = Path(sys.argv[1])
    try:
        code = main(sys.argv[2:])
    finally:
        out.write_text(str(peak_kib()))
    sys.exit(code)
