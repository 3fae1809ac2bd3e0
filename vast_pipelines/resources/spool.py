"""Where a message goes when the outbox cannot be written: a small file per message, written to the outbox
(with what its direct delivery did) once the database is back.

The files live under ``VAST_PIPELINES_HOME/outbox-spool/`` on the machine that sent them; a message that could
not be delivered directly is retried from the outbox as usual once it is there.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vast_pipelines.resources.database import AnalyticsDatabase, OutboxMessage
from vast_pipelines.resources.slack import Delivery


@dataclass(frozen=True)
class Spooled:
    """A message (or the outcome of an attempt at a stored one) waiting for the database."""

    path: Path
    message: OutboxMessage | None
    outbox_id: int | None
    delivery: Delivery


def spool_dir(database: AnalyticsDatabase) -> Path:
    """``VAST_PIPELINES_HOME/outbox-spool``."""
    return Path(database.home).expanduser() / "outbox-spool"


def spool(
    database: AnalyticsDatabase,
    delivery: Delivery,
    *,
    message: OutboxMessage | None = None,
    outbox_id: int | None = None,
) -> Path:
    """Keep ``message`` (not yet in the outbox) or the outcome of an attempt at stored message ``outbox_id``;
    written atomically (temp file, fsync, rename)."""
    folder = spool_dir(database)
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"outbox_id": outbox_id, "delivery": dataclasses.asdict(delivery), "message": None}
    if message is not None:
        fields = dataclasses.asdict(message)
        if message.attachment is not None:
            fields["attachment"] = base64.b64encode(bytes(message.attachment)).decode()
        record["message"] = fields
    path = folder / f"{uuid.uuid4().hex}.json"
    fd, tmp = tempfile.mkstemp(prefix=".spool-", dir=folder)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def spooled(database: AnalyticsDatabase) -> list[Spooled]:
    """What waits for the database, oldest first."""
    folder = spool_dir(database)
    if not folder.is_dir():
        return []
    items = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        record = json.loads(path.read_text())
        fields = record.get("message")
        message = None
        if fields is not None:
            if fields.get("attachment") is not None:
                fields["attachment"] = base64.b64decode(fields["attachment"])
            message = OutboxMessage(**fields)
        items.append(Spooled(path, message, record.get("outbox_id"), Delivery(**record["delivery"])))
    return items
