"""Lease: leadership among alerts instances — one key in the ``dx_leases`` KV bucket, renewed by CAS.

A holder that dies stops renewing; its key expires with the bucket TTL and another instance's
``create`` succeeds on its next renewal tick (``scheduler.py`` runs the renewal loop).
"""

from __future__ import annotations

import logging
import os
import socket

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

log = logging.getLogger("dx.alerts.evaluate")

LEASE_KEY = "alerts.leader"


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Lease:
    """Lease is leadership among alerts instances: one key in the ``dx_leases`` KV bucket.

    ``keep`` creates the key when absent or renews it by compare-and-set on our last revision; any
    other outcome (someone else holds it, NATS unreachable) means we do not hold it. Not safe for
    concurrent use: one task calls ``keep`` periodically.
    """

    def __init__(self, kv: KeyValue, holder: str, key: str = LEASE_KEY) -> None:
        self.kv = kv
        self.holder = holder
        self.key = key
        self.revision: int | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    async def keep(self) -> bool:
        """keep acquires or renews the lease and says whether we hold it now."""
        was_held = self.held
        try:
            if self.revision is None:
                self.revision = await self.kv.create(self.key, self.holder.encode())
            else:
                self.revision = await self.kv.update(self.key, self.holder.encode(), last=self.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            self.revision = None  # another instance holds it (or took over after our renewal lapsed)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # Step down: without renewals the key expires and another instance may take over.
            if was_held:
                log.warning("lease renewal failed (%s); stepping down", type(exc).__name__)
            self.revision = None
        if self.held != was_held:
            log.info("%s %s the alerts lease", self.holder, "acquired" if self.held else "lost")
        return self.held

    async def release(self) -> None:
        """release deletes the key (only if still ours) so a successor need not wait for the TTL."""
        if self.revision is None:
            return
        try:
            await self.kv.delete(self.key, last=self.revision)
            log.info("%s released the alerts lease", self.holder)
        except Exception as exc:  # noqa: BLE001 - the TTL frees it anyway
            log.warning("lease release failed (%s); it expires by itself", exc)
        self.revision = None
