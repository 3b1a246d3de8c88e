"""The embedded broker: kombu's filesystem transport, with messages that appear whole and are claimed once.

kombu 5.7 creates a message file and then writes into it, and a consumer claims a file by moving it to the
temp dir (a copy when that is another filesystem). A worker listing the folder could therefore claim a file
before the publisher had written a byte: it read an empty document, died on the JSON, and the message was
gone (seen with 20 `certs issue` at once on `make run`'s defaults). Here a publisher writes under a name no
consumer matches and renames it into place, and a consumer claims by renaming into the processed folder
beside the queue: both are atomic on one filesystem, so a message is seen whole by exactly one consumer.
No fsync: a message lost to a power cut is sent again by the sweeps, which work from database rows.
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

TRANSPORT = "certpanel.filequeue:Transport"


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's own filesystem Channel renamed its base's `message`
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, f".{name}.part")  # never matches "<queue>.msg"
        try:
            with open(temp, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.rename(temp, final)
        except OSError as exc:
            with suppress(OSError):
                os.unlink(temp)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer claimed it first
            try:
                with open(claimed, "rb") as handle:
                    payload = handle.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
