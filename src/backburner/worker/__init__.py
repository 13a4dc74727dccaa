"""The worker: `Worker` claims and runs jobs; everything else here is internal."""

from .worker import Worker

__all__ = ["Worker"]
