"""`gvi-sanctions demo` as a user runs it: real broker, real worker process, then a clean stop."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def _stop_leftovers(output: str) -> None:
    """After a failed run, stop the workers and broker the demo reported, by their pids."""
    for pattern in (r"worker pid (\d+);", r"gateway pid (\d+) on", r"broker \(Tansu\) pid (\d+)"):
        for pid in map(int, re.findall(pattern, output)):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.broker
def test_demo_runs_to_completion_and_stops_what_it_started(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "workers.cli", "demo", "--time-limit", "150"]
    try:
        result = subprocess.run(
            [*command, "--agency-pace", "0.3"],
            cwd=ROOT,
            env={**os.environ, "GVI_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        partial = timeout.stdout
        _stop_leftovers(partial.decode() if isinstance(partial, bytes) else partial or "")
        raise
    output = result.stdout
    if result.returncode != 0:
        _stop_leftovers(output)
    assert result.returncode == 0, output + result.stderr
    assert "police published DEMO-INC-HUD-1 over HTTP (202): shooting in Huddinge" in output
    assert "socialtjansten-orebro got task " in output
    assert "by webhook (signature verified)" in output
    assert "socialtjansten-huddinge consumes its tasks on Kafka" in output
    assert (
        "socialtjansten-huddinge received tasks of 1 partnership(s): huddinge (DEMO-INC-HUD-1)"
    ) in output
    assert (
        "socialtjansten-orebro received tasks of 1 partnership(s): orebro (DEMO-INC-ORE-1)"
    ) in output
    assert "skatteverket pulled " in output
    assert "kronofogden consumes its tasks on Kafka" in output
    assert re.search(r"DEMO-INC-HUD-1 +\[#{24}\] 100\.0%  21/21 completed \(done\)", output)
    assert re.search(r"DEMO-INC-ORE-1 +\[#{24}\] 100\.0%  4/4 completed \(done\)", output)
    assert "DEMO-INC-HUD-2   no tasks: attribution below the policy's threshold" in output
    assert "REJECTED" not in output
    worker_pid = int(re.search(r"worker pid (\d+);", output).group(1))  # type: ignore[union-attr]
    broker_pid = int(re.search(r"broker \(Tansu\) pid (\d+)", output).group(1))  # type: ignore[union-attr]
    gateway_pid = int(re.search(r"gateway pid (\d+) on", output).group(1))  # type: ignore[union-attr]
    assert f"stopped worker pid {worker_pid}" in output
    assert f"stopped gateway pid {gateway_pid}" in output
    assert f"stopped broker pid {broker_pid}" in output
    assert not _alive(worker_pid)
    assert not _alive(gateway_pid)
    assert not _alive(broker_pid)


def _start_demo(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "demo", *options],
        cwd=ROOT,
        env={**os.environ, "GVI_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until_tasks_are_dispatched(demo: subprocess.Popen[str]) -> str:
    assert demo.stdout is not None
    lines: list[str] = []
    for line in demo.stdout:
        lines.append(line)
        if "0/21 completed" in line:
            break
    return "".join(lines)


def _rest_of_output(demo: subprocess.Popen[str], so_far: str, timeout: float) -> str:
    """All the demo printed by its exit; after `timeout` it is killed with all it started."""
    try:
        rest, _ = demo.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        demo.kill()
        rest, _ = demo.communicate(timeout=30)
        _stop_leftovers(so_far + rest)
        raise
    return so_far + rest


@pytest.mark.broker
def test_interrupted_demo_stops_everything_it_started(tmp_path: Path) -> None:
    demo = _start_demo(tmp_path, "--agency-pace", "20")
    so_far = _read_until_tasks_are_dispatched(demo)
    os.kill(demo.pid, signal.SIGINT)
    output = _rest_of_output(demo, so_far, timeout=90)
    assert demo.returncode == 130, output
    assert "interrupted" in output
    worker_pid = int(re.search(r"worker pid (\d+);", output).group(1))  # type: ignore[union-attr]
    broker_pid = int(re.search(r"broker \(Tansu\) pid (\d+)", output).group(1))  # type: ignore[union-attr]
    assert f"stopped worker pid {worker_pid}" in output
    assert not _alive(worker_pid)
    assert not _alive(broker_pid)
    assert "100.0%" not in output


@pytest.mark.broker
def test_demo_starts_a_killed_worker_again_and_still_completes_every_task(tmp_path: Path) -> None:
    demo = _start_demo(tmp_path, "--agency-pace", "2", "--time-limit", "180")
    so_far = _read_until_tasks_are_dispatched(demo)
    first_pid = int(re.search(r"worker pid (\d+);", so_far).group(1))  # type: ignore[union-attr]
    os.kill(first_pid, signal.SIGKILL)
    output = _rest_of_output(demo, so_far, timeout=240)
    assert demo.returncode == 0, output
    assert f"worker pid {first_pid} exited with status -9; starting it again" in output
    second_pid = int(re.findall(r"worker pid (\d+);", output)[-1])
    assert second_pid != first_pid
    assert re.search(r"DEMO-INC-HUD-1 +\[#{24}\] 100\.0%  21/21 completed \(done\)", output)
    assert re.search(r"DEMO-INC-ORE-1 +\[#{24}\] 100\.0%  4/4 completed \(done\)", output)
    assert "REJECTED" not in output
    assert f"stopped worker pid {second_pid}" in output
    assert not _alive(first_pid)
    assert not _alive(second_pid)
