"""The gateway's callers: tokens stored only as hashes, roles checked, cursors and statuses."""

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from schemas import TaskStatus
from workers.cli.main import main
from workers.gateway.credentials import (
    Credentials,
    CredentialsFile,
    CredentialsInvalid,
    add_token,
    revoke_token,
)
from workers.gateway.cursors import BadCursor, Cursor
from workers.gateway.dashboard import partnership_numbers
from workers.gateway.read_model import moves_on


def test_a_token_is_shown_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    token = add_token(path, "agency:skatteverket")
    stored = path.read_text("utf-8")
    assert token not in stored and token.split("_", 2)[2] not in stored
    [entry] = json.loads(stored)["tokens"]
    assert entry["role"] == "agency:skatteverket" and len(entry["sha256"]) == 64
    assert path.stat().st_mode & 0o077 == 0, "the file is readable by its owner only"
    caller = Credentials.load(path).caller(token)
    assert caller is not None and caller.recipient == "skatteverket"


def test_a_wrong_secret_an_unknown_id_or_a_malformed_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    token = add_token(path, "police")
    credentials = Credentials.load(path)
    prefix, token_id, secret = token.split("_", 2)
    wrong = f"{prefix}_{token_id}_{'B' if secret[0] != 'B' else 'C'}{secret[1:]}"
    assert credentials.caller(wrong) is None
    assert credentials.caller(f"gvi_{'0' * 12}_{secret}") is None
    assert credentials.caller("not-a-token") is None
    assert credentials.caller(token) is not None


@pytest.mark.parametrize("role", ["admin", "agency:", "agency:Skatteverket!", "police "])
def test_only_known_roles_are_given_tokens(tmp_path: Path, role: str) -> None:
    with pytest.raises(CredentialsInvalid):
        add_token(tmp_path / "credentials.json", role)


def test_a_credentials_file_that_cannot_be_read_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{broken", "utf-8")
    with pytest.raises(CredentialsInvalid):
        add_token(path, "police")
    assert path.read_text("utf-8") == "{broken"


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    plain = Cursor((3, 0, 41, 7))
    assert Cursor.decode(plain.encode(), 4) == plain
    paging = Cursor((3, 0, 41, 7), (5, 2, 41, 9), "7b0c2e2a-0000-5000-8000-000000000001")
    assert Cursor.decode(paging.encode(), 4) == paging
    foreign = (
        "",
        "abc",
        plain.encode()[:-2] + "!!",
        Cursor((1, 2)).encode(),
        Cursor((-1,) * 4).encode(),
    )
    for text in foreign:
        with pytest.raises(BadCursor, match="not a cursor of this API"):
            Cursor.decode(text, 4)


def test_a_status_from_a_snapshot_only_moves_a_task_on() -> None:
    assert moves_on(TaskStatus.DELIVERED, TaskStatus.ACKNOWLEDGED)
    assert moves_on(TaskStatus.IN_PROGRESS, TaskStatus.DECLINED)
    assert not moves_on(TaskStatus.ACKNOWLEDGED, TaskStatus.DELIVERED)
    assert not moves_on(TaskStatus.CANCELLED, TaskStatus.COMPLETED)
    assert not moves_on(TaskStatus.COMPLETED, TaskStatus.COMPLETED)


def test_the_credentials_command_prints_a_token_once_that_the_file_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "credentials.json"
    monkeypatch.setenv("GVI_CREDENTIALS_FILE", str(path))
    assert main(["credentials", "add", "supervisor"]) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    assert "shown this once" in printed.err
    caller = Credentials.load(path).caller(token)
    assert caller is not None and caller.role == "supervisor"
    assert main(["credentials", "add", "janitor"]) == 2


def test_an_expired_token_is_refused_and_a_revoked_one_is_gone_from_the_running_view(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway" / "credentials.json"
    lasting = add_token(path, "agency:skatteverket")
    expired = add_token(path, "police", timedelta(seconds=-1))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    running = CredentialsFile.open(path, recheck_seconds=0)
    assert running.caller(expired) is None, "past its expiry"
    caller = running.caller(lasting)
    assert caller is not None and running.still_valid(caller)
    assert caller.principal == f"token:{caller.token_id} (agency:skatteverket)"
    assert revoke_token(path, caller.token_id)
    assert not revoke_token(path, caller.token_id), "already gone"
    assert running.caller(lasting) is None and not running.still_valid(caller)
    path.write_text("{not json", "utf-8")
    assert running.caller(add_token.__name__) is None
    assert running.entries == {}, "an unreadable file refuses every token"


def test_a_partnerships_supervisor_sees_only_that_partnership(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    token = add_token(path, "supervisor:huddinge")
    national_token = add_token(path, "supervisor")
    credentials = Credentials.load(path)
    huddinge, national = credentials.caller(token), credentials.caller(national_token)
    assert huddinge is not None and national is not None
    assert huddinge.is_supervisor and national.is_supervisor
    assert (huddinge.partnership, national.partnership) == ("huddinge", None)
    assert huddinge.sees({"partnership": "huddinge"})
    assert not huddinge.sees({"partnership": "orebro"})
    assert not huddinge.sees({}), "a snapshot without a partnership is for national eyes only"
    assert national.sees({"partnership": "orebro"}) and national.sees({})
    for refused in ("supervisor:", "supervisor:Huddinge", "supervisor:hud dinge"):
        with pytest.raises(CredentialsInvalid):
            add_token(path, refused)


def test_each_partnerships_numbers_count_only_its_incidents() -> None:
    def line(status: str, overdue: bool) -> dict[str, object]:
        return {"status": status, "overdue": overdue}

    incidents = [
        {
            "partnership": "huddinge",
            "tasks_total": 3,
            "tasks_open": 1,
            "tasks_completed": 2,
            "tasks": [line("completed", False), line("completed", True), line("delivered", True)],
        },
        {
            "partnership": "orebro",
            "tasks_total": 1,
            "tasks_open": 1,
            "tasks_completed": 0,
            "tasks": [line("delivered", False)],
        },
    ]
    numbers = {n["partnership"]: n for n in partnership_numbers(incidents)}
    assert numbers["huddinge"] == {
        "partnership": "huddinge",
        "incidents": 1,
        "tasks": 3,
        "open": 1,
        "completed": 2,
        "overdue": 1,
        "on_time": 1,
        "on_time_percent": 33.3,
    }
    assert numbers["orebro"]["on_time_percent"] is None, "nothing finished or late yet"
