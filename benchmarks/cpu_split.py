"""Where a process's CPU time went: its main thread (the event loop) or its other threads, in user
space or in the kernel; and the CPU time of the benchmark's Apache Kafka broker."""

import os
from dataclasses import dataclass
from pathlib import Path

from tests.support.brokers import KAFKA_SCRIPTS, kafka_cluster_name

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuTimes:
    """Seconds of CPU so far: the main thread's and every other thread's (ended ones included),
    each in user space and in the kernel."""

    main_user: float = 0.0
    main_kernel: float = 0.0
    others_user: float = 0.0
    others_kernel: float = 0.0

    def __add__(self, other: "CpuTimes") -> "CpuTimes":
        return CpuTimes(*(a + b for a, b in zip(self._values(), other._values(), strict=True)))

    def __sub__(self, other: "CpuTimes") -> "CpuTimes":
        return CpuTimes(*(a - b for a, b in zip(self._values(), other._values(), strict=True)))

    def _values(self) -> tuple[float, float, float, float]:
        return (self.main_user, self.main_kernel, self.others_user, self.others_kernel)

    @property
    def total(self) -> float:
        return sum(self._values())

    def ms_per(self, count: int) -> dict[str, float]:
        """The split in ms per `count` (incidents), for the report."""
        return {
            "main_thread_user": round(1000 * self.main_user / count, 2),
            "main_thread_kernel": round(1000 * self.main_kernel / count, 2),
            "other_threads_user": round(1000 * self.others_user / count, 2),
            "other_threads_kernel": round(1000 * self.others_kernel / count, 2),
        }


def _user_and_kernel(stat: Path) -> tuple[float, float]:
    fields = stat.read_text().rpartition(")")[2].split()
    return int(fields[11]) / TICKS_PER_SECOND, int(fields[12]) / TICKS_PER_SECOND


def cpu_times(pid: int) -> CpuTimes:
    """A running process's CPU so far: the process's total (every thread, ended ones too) less
    its main thread's (whose thread id is the process id)."""
    user, kernel = _user_and_kernel(Path(f"/proc/{pid}/stat"))
    main_user, main_kernel = _user_and_kernel(Path(f"/proc/{pid}/task/{pid}/stat"))
    return CpuTimes(main_user, main_kernel, user - main_user, kernel - main_kernel)


def broker_cpu_seconds() -> float | None:
    """CPU so far of this process's Apache Kafka nodes (`deploy/kafka/.run/NAME/node-*.pid`);
    None on the embedded broker (no such files)."""
    pid_files = sorted((KAFKA_SCRIPTS / ".run" / kafka_cluster_name()).glob("node-*.pid"))
    if not pid_files:
        return None
    total = 0.0
    for pid_file in pid_files:
        user, kernel = _user_and_kernel(Path(f"/proc/{pid_file.read_text().strip()}/stat"))
        total += user + kernel
    return total
