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

from vast_pipelines.domain.outbox import Delivery
from vast_pipelines.store.outbox import OutboxMessage


@dataclass(frozen=True)
class Spooled:
    """A message (or the outcome of an attempt at a stored one) waiting for the database."""

    path: Path
    message: OutboxMessage | None
    outbox_id: int | None
    delivery: Delivery


class Spool:
    """The spool folder of one ``VAST_PIPELINES_HOME``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, delivery: Delivery, *, message: OutboxMessage | None = None, outbox_id: int | None = None) -> Path:
        """Keep ``message`` (not yet in the outbox) or the outcome of an attempt at stored message ``outbox_id``;
        written atomically (temp file, fsync, rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {"outbox_id": outbox_id, "delivery": dataclasses.asdict(delivery), "message": None}
        if message is not None:
            fields = dataclasses.asdict(message)
            if message.attachment is not None:
                fields["attachment"] = base64.b64encode(bytes(message.attachment)).decode()
            record["message"] = fields
        path = self.folder / f"{uuid.uuid4().hex}.json"
        fd, tmp = tempfile.mkstemp(prefix=".spool-", dir=self.folder)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path

    def waiting(self) -> list[Spooled]:
        """What waits for the database, oldest first."""
        if not self.folder.is_dir():
            return []
        items = []
        for path in sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
            record = json.loads(path.read_text())
            fields = record.get("message")
            message = None
            if fields is not None:
                if fields.get("attachment") is not None:
                    fields["attachment"] = base64.b64decode(fields["attachment"])
                message = OutboxMessage(**fields)
            items.append(Spooled(path, message, record.get("outbox_id"), Delivery(**record["delivery"])))
        return items
