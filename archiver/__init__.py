"""archiver: a tamper-evident archive of Avaya Infinity Historical API data."""

__version__ = "0.1.0"
