"""Allow ``python -m archiver``."""

from archiver.cli.main import main

raise SystemExit(main())
