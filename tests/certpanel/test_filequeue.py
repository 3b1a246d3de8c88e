"""The embedded broker under concurrent publishers: every message is delivered whole, exactly once.

kombu's filesystem transport writes a message file in place; a consumer listing the folder could claim and
read it before the publisher had written a byte (seen: 20 `certs issue` at once, the worker died on an empty
JSON document and the orders stayed queued). These tests run real publisher processes against a real
consumer on the panel's transport.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from certpanel.filequeue import TRANSPORT

PUBLISHERS = 4
PER_PUBLISHER = 300


def _options(root: Path) -> dict[str, object]:
    for sub in ("queue", "processed", "control"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
        "store_processed": False,
        "polling_interval": 0.001,
    }


QUEUE = Queue("stress", Exchange("stress", type="direct"), routing_key="stress")


def _publish(transport: str, root: str, publisher: int) -> None:
    with Connection("filesystem://", transport=transport, transport_options=_options(Path(root))) as connection:
        producer = connection.Producer(serializer="json")
        for n in range(PER_PUBLISHER):
            # A large body widens the window between creating a file and finishing it.
            producer.publish(
                {"publisher": publisher, "n": n, "pad": "x" * 20000},
                exchange=QUEUE.exchange,
                routing_key="stress",
                declare=[QUEUE],
            )


def _drain(transport: str, root: Path, expected: int, timeout: float) -> tuple[list[tuple[int, int]], list[str]]:
    received: list[tuple[int, int]] = []
    errors: list[str] = []
    with Connection("filesystem://", transport=transport, transport_options=_options(root)) as connection:

        def on_message(body: dict[str, int], message: object) -> None:
            received.append((body["publisher"], body["n"]))
            message.ack()  # type: ignore[attr-defined]

        with connection.Consumer(QUEUE, callbacks=[on_message], accept=["json"]):
            deadline = time.monotonic() + timeout
            while len(received) < expected and time.monotonic() < deadline:
                try:
                    connection.drain_events(timeout=0.2)
                except TimeoutError:
                    continue
                except Exception as error:  # what a worker would die of
                    errors.append(f"{type(error).__name__}: {error}")
                    if len(errors) > 5:
                        break
    return received, errors


def _run(transport: str, root: Path) -> tuple[list[tuple[int, int]], list[str]]:
    context = multiprocessing.get_context("fork")
    _options(root)  # the folders exist before anyone lists them
    publishers = [context.Process(target=_publish, args=(transport, str(root), p)) for p in range(PUBLISHERS)]
    for process in publishers:
        process.start()
    try:
        return _drain(transport, root, PUBLISHERS * PER_PUBLISHER, timeout=120)
    finally:
        for process in publishers:
            process.join(timeout=30)


@pytest.mark.integration
def test_concurrent_publishers_deliver_every_message_whole_and_once(tmp_path: Path) -> None:
    received, errors = _run(TRANSPORT, tmp_path)
    assert errors == []
    assert len(received) == len(set(received)) == PUBLISHERS * PER_PUBLISHER
    assert not any(name.startswith(".") for name in os.listdir(tmp_path / "queue")), "no temp file left behind"
