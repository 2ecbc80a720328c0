"""An embedded, deterministic simulator of the Avaya Infinity Historical API."""

from archiver.simulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SimConfig,
    Simulator,
)

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "SimConfig", "Simulator"]
