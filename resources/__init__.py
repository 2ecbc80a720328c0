"""Installed as the package ``archiver.assets`` (see pyproject.toml's package-dir): the fonts
and the icon, read through importlib.resources by ``archiver.resources``."""
