"""The worker's faust monitor does no work per message, event or send; it keeps the committed
offsets that `/metrics` reads for the lag."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.metrics import CommittedOffsets

TP0 = TP("gvi.incidents", 0)


def test_the_monitor_keeps_committed_offsets_and_nothing_per_message(tmp_path: Path) -> None:
    app, _ = create_app(Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path))
    monitor = app.monitor
    assert isinstance(monitor, CommittedOffsets)
    message: Any = SimpleNamespace(time_in=None)
    monitor.on_message_in(TP0, 4, message)
    state = monitor.on_stream_event_in(TP0, 4, None, None)
    monitor.on_stream_event_out(TP0, 4, None, None, state)
    monitor.on_send_completed(None, monitor.on_send_initiated(None, TP0.topic, None, 3, 9), None)
    monitor.on_tp_commit({TP0: 5})
    assert monitor.tp_committed_offsets == {TP0: 5}
    assert (monitor.messages_received_total, monitor.events_total, monitor.messages_sent) == (
        0,
        0,
        0,
    )
    assert message.time_in is None and not monitor.send_latency
