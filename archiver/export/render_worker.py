"""A report render process (``python -m archiver.export.render_worker``).

Started by :mod:`archiver.export.report` with pipes: reads pickled ``PartSpec`` objects from
standard input, renders each (:func:`archiver.export.pdf.render_part`) and writes a pickled
``("ok", PartResult)`` or ``("error", message)`` to standard output; ends at end of input. A
plain process of its own (not ``multiprocessing``), so it never re-runs the caller's main
module, whatever script started the export.
"""

from __future__ import annotations

import pickle
import sys


def main() -> int:
    from archiver.export.pdf import register_fonts, render_part

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the result pipe
    register_fonts()
    while True:
        try:
            spec = pickle.load(source)
        except EOFError:
            return 0
        try:
            reply: tuple[str, object] = ("ok", render_part(spec))
        except Exception as exc:  # the exporting process fails the export with this message
            reply = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    raise SystemExit(main())
