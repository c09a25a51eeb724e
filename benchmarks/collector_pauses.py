"""The garbage collectors' pauses beside a latency phase: this process's (a floor runs in it)
and the Apache Kafka broker's (from its `-Xlog:gc` file, deploy/kafka/node.sh)."""

import gc
import re
import time
from datetime import datetime
from types import TracebackType
from typing import Any

from tests.support.brokers import KAFKA_SCRIPTS, kafka_cluster_name


class CollectorPauses:
    """Each collection of this process between entering and leaving: its generation and
    how long it held the process (every thread: a floor's loop waits for it)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._began: float | None = None

    def __enter__(self) -> "CollectorPauses":
        gc.callbacks.append(self._note)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        gc.callbacks.remove(self._note)

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began is not None:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._began))
            self._began = None

    def summary(self) -> dict[str, float]:
        """As the worker's own are reported: how many, full ones, 25 ms or more, the longest
        (ms) and their seconds in all."""
        seconds = [pause for _, pause in self.pauses]
        return {
            "collections": len(seconds),
            "full": sum(generation == 2 for generation, _ in self.pauses),
            "over_25_ms": sum(pause >= 0.025 for pause in seconds),
            "longest_ms": round(1000 * max(seconds, default=0.0), 1),
            "seconds": round(sum(seconds), 3),
        }


PAUSE_LINE = re.compile(r"^\[(?P<at>[^\]]+)\] GC\(\d+\) Pause .* (?P<ms>[\d.]+)ms$")


def broker_pauses(since: float, until: float) -> dict[str, float] | None:
    """The pauses of this process's Apache Kafka nodes that ended between two wall-clock
    times (s): how many, 25 ms or more, the longest and all of them (ms). Each holds every
    request to that node. None on the embedded broker (no such files)."""
    logs = sorted((KAFKA_SCRIPTS / ".run" / kafka_cluster_name()).glob("node-*/gc.log"))
    if not logs:
        return None
    pauses = []
    for log in logs:
        for line in log.read_text().splitlines():
            found = PAUSE_LINE.match(line)
            if found is None:
                continue
            ended = datetime.strptime(found["at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            if since <= ended <= until:
                pauses.append(float(found["ms"]))
    return {
        "pauses": len(pauses),
        "over_25_ms": sum(pause >= 25 for pause in pauses),
        "longest_ms": round(max(pauses, default=0.0), 1),
        "total_ms": round(sum(pauses), 1),
    }
