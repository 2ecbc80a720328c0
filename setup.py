"""The package list, which pyproject.toml cannot express: every archiver* package found in
the source tree, plus archiver.assets, whose files live in the top-level resources/ folder
(mapped in pyproject.toml's [tool.setuptools.package-dir]). Everything else is in
pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["archiver", "archiver.*"]), "archiver.assets"])
