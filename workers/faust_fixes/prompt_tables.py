"""faust's table manager without its fixed one-second wait before the tables start; every
table of the worker is defined before the app starts (`_update_channels` has a digest in
`REPLACED`, and a table added later fails loudly: "Too late to add tables")."""

from faust.tables import TableManager


class PromptTableManager(TableManager):
    """Starts the tables' changelog channels and their recovery at once."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
