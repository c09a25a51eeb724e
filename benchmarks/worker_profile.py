"""Where a running worker's CPU goes: py-spy samples of its process, by thread, stage and library.

`make bench` takes them with `--profile-worker FILE` over the catch-up (the worker on the broker,
not in process); `python -m benchmarks.worker_profile FILE` prints the summary of a saved file.
Only samples of a thread that holds the GIL are taken: under uvloop py-spy cannot tell a thread
that waits in `epoll` from one that runs, and the GIL's holder is what the other thread waits for.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

STAGES = (
    ("consumer thread: fetch, decode records", "ServiceThread._start_thread"),
    ("intake (handler)", "on_incident (workers/stream/agents/intake.py"),
    ("planning (handler)", "on_group_work (workers/stream/agents/planning.py"),
    ("task agent (handlers)", "(workers/stream/agents/tasks.py"),
    ("completion (handler)", "on_task_event (workers/stream/agents/completion.py"),
    ("deadline timer", "(workers/stream/agents/deadlines.py"),
    ("batch flush: hand outputs to the producer", "flush (workers/stream/batches.py"),
    ("state writes: stores and changelog records", "Runtime._made (workers/stream/runtime.py"),
    ("aiokafka producer: produce requests", "(aiokafka/producer/"),
    ("aiokafka connections: read responses", "AIOKafkaConnection._read ("),
    ("batch runner around the handlers: queue, lags, acks", "run_batches (workers/stream/"),
    ("faust streams: take events from the consumer", "(faust/"),
)
"""Each sample counts for the first stage one of its frames belongs to (frame name prefixes)."""
OTHER_STAGE = "other: event loop, timers, web"

LIBRARIES = (
    ("the pure core (workers/core, schemas)", ("(workers/core/", "(schemas/")),
    (
        "the stream layer (workers/stream, events)",
        ("(workers/stream/", "(workers/faust", "(events/"),
    ),
    ("pydantic", ("(pydantic/", "(pydantic_core")),
    ("aiokafka", ("(aiokafka/",)),
    ("faust and mode", ("(faust/", "(mode/")),
    ("asyncio and selectors", ("(asyncio/", "(selectors.py")),
)
"""Where each sample's innermost frame is (self time), by file path."""


@dataclass(frozen=True)
class Summary:
    samples: int
    threads: list[tuple[str, float]]
    stages: list[tuple[str, float]]
    libraries: list[tuple[str, float]]
    hottest: list[tuple[str, float]]

    def lines(self) -> list[str]:
        out = [f"{self.samples} samples", "", "| thread | share |", "|---|---|"]
        out += [f"| {name} | {share:.1%} |" for name, share in self.threads]
        out += ["", "| stage (inclusive) | share |", "|---|---|"]
        out += [f"| {name} | {share:.1%} |" for name, share in self.stages]
        out += ["", "| innermost frame in | share |", "|---|---|"]
        out += [f"| {name} | {share:.1%} |" for name, share in self.libraries]
        out += ["", "| hottest frames (self) | share |", "|---|---|"]
        out += [f"| `{name}` | {share:.1%} |" for name, share in self.hottest]
        return out


def summary(raw: str, hottest: int = 15, thread: str | None = None) -> Summary:
    """Sum py-spy's raw (collapsed) stacks: `frame;frame;… count` per line, each stack led by
    its thread (`thread (id): name`) when py-spy was told `--threads`; only `thread`'s if named."""
    threads: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        named = frames[0].startswith("thread (")
        # py-spy sometimes cannot read a thread's name and leaves `thread (id)` alone.
        sampled = (frames[0].partition("): ")[2] or frames[0]) if named else "unnamed"
        if thread is not None and sampled != thread:
            continue
        if named:
            frames = frames[1:] or frames
        total += samples
        threads[sampled] += samples
        stage = next(
            (name for name, prefix in STAGES if any(prefix in frame for frame in frames)),
            OTHER_STAGE,
        )
        stages[stage] += samples
        leaf = frames[-1]
        library = next(
            (name for name, paths in LIBRARIES if any(path in leaf for path in paths)), "other"
        )
        libraries[library] += samples
        leaves[_short(leaf)] += samples

    def share(samples: int) -> float:
        return samples / total if total else 0.0

    return Summary(
        total,
        [(name, share(n)) for name, n in threads.most_common()],
        [(name, share(stages[name])) for name in [*(stage for stage, _ in STAGES), OTHER_STAGE]],
        [(name, share(n)) for name, n in libraries.most_common()],
        [(name, share(n)) for name, n in leaves.most_common(hottest)],
    )


def _short(frame: str) -> str:
    """`function (file.py:line)` without the line and the directories of the file."""
    return re.sub(r"\(([^()]*/)?([^/():]+)(:\d+)?\)$", r"(\2)", frame)


class Sampler:
    """py-spy recording one process until stopped."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        self.output = output
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--nonblocking",
                "--gil",
                "--threads",
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> Summary:
        """Stop sampling (py-spy writes its file on SIGINT) and sum what it saw."""
        os.kill(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=60)
        return summary(self.output.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw", type=Path, help="py-spy's raw output (--format raw)")
    parser.add_argument("--thread", help="only this thread's samples, e.g. MainThread")
    arguments = parser.parse_args()
    print("\n".join(summary(arguments.raw.read_text(), thread=arguments.thread).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
