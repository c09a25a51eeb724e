"""A hook on faust's handling of SIGTERM and SIGINT: the worker's private `_on_sigterm` and
`_on_sigint` (digests in `REPLACED`) call `on_stop_signal` before faust's own stop."""

import faust


class StopSignalWorker(faust.Worker):
    """faust's worker, which tells `on_stop_signal` of a SIGTERM or SIGINT first."""

    def on_stop_signal(self, signal_name: str) -> None:
        """Called before faust's graceful stop begins."""

    def _on_sigterm(self) -> None:
        self.on_stop_signal("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.on_stop_signal("SIGINT")
        super()._on_sigint()
