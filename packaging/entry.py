"""The frozen app's entry point. ``archiver`` is the command line (``archiver gui`` opens the
desktop app); an executable named ``archiver-gui`` (built for Windows and inside the macOS
bundle, see archiver.spec) opens the desktop app directly, like the pip-installed launcher."""

import sys
from pathlib import Path


def main() -> int:
    if Path(sys.executable).stem.lower() == "archiver-gui":
        from archiver.gui.app import main as gui_main

        return gui_main(sys.argv[1:])
    from archiver.cli.main import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
