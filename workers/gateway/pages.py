"""The read model's pages that a cursor follows (a recipient's tasks, the escalations): made of
topic positions, so that a reader may take a cursor from one replica to another."""

import asyncio
import json
from datetime import datetime
from typing import Any

import aiosqlite

from workers.gateway.cursors import Cursor, Page
from workers.gateway.read_store import TopicRoles, instant


class CursorPages:
    """The paged reads of `ReadModel` (its connection, topics and folding lock)."""

    connection: aiosqlite.Connection
    topics: TopicRoles
    folding: asyncio.Lock

    async def positions(self) -> dict[tuple[str, int], int]:
        async with self.connection.execute(
            "SELECT topic, partition, next_offset FROM positions"
        ) as cursor:
            return {(row[0], row[1]): row[2] async for row in cursor}

    async def read_up_to(self, topics: list[str], partitions: int) -> tuple[int, ...]:
        """The next offset to read, per partition of each of `topics` in turn."""
        positions = await self.positions()
        return tuple(
            positions.get((topic, partition), 0)
            for topic in topics
            for partition in range(partitions)
        )

    async def _listed_up_to(self, read: tuple[int, ...], partitions: int) -> tuple[int, ...]:
        """How far a round of listing covers: the read positions, except that a snapshot's
        status of a task whose own record was not read yet holds its completion partition
        back (the task is listed, with that status, once it arrives). A task record missing
        an hour after the newest snapshot (expired, or forgotten) holds nothing back."""
        listed = list(read)
        async with self.connection.execute(
            "SELECT partition, MIN(offset) FROM reported r WHERE NOT EXISTS "
            "(SELECT 1 FROM tasks t WHERE t.task_id = r.task_id) "
            "AND julianday(r.at) >= julianday((SELECT MAX(at) FROM reported)) - ? "
            "GROUP BY partition",
            (PENDING_HOLD_DAYS,),
        ) as rows:
            async for partition, offset in rows:
                if 0 <= partition < partitions:
                    listed[partitions + partition] = min(listed[partitions + partition], offset)
        return tuple(listed)

    async def tasks_of(
        self,
        recipient: str,
        status: str | None,
        since: datetime | None,
        cursor: Cursor | None,
        limit: int,
    ) -> Page:
        """A recipient's tasks that were created or changed after the cursor (all, without
        one), in task id order. The cursor is made of topic positions, so a reader may take it
        from one replica to another (docs/gateway.md "Several replicas")."""
        async with self.folding:
            partitions = self.topics.partitions
            sources = [self.topics.task_topic(recipient), self.topics.completion]
            width = 2 * partitions
            cursor = cursor or Cursor((0,) * width)
            read = await self.read_up_to(sources, partitions)
            if any(
                here < there for here, there in zip(read, cursor.until or cursor.since, strict=True)
            ):
                # This replica has not read yet what the cursor's replica had: what it would list
                # could be older than what the reader was shown. Nothing yet; ask again.
                return Page([], cursor.encode(), False)
            until = cursor.until or await self._listed_up_to(read, partitions)
            sent_since, reported_since = _halves(cursor.since, partitions)
            sent_until, reported_until = _halves(until, partitions)
            # Bounded above too: a batch being folded is visible here before its positions move,
            # and a record past `until` listed now would be listed again from the next cursor.
            conditions = [
                "recipient = ?",
                "((sent_offset >= json_extract(?, '$[' || sent_partition || ']') AND "
                "sent_offset < json_extract(?, '$[' || sent_partition || ']')) OR "
                "(reported_offset IS NOT NULL AND "
                "reported_offset >= json_extract(?, '$[' || reported_partition || ']') AND "
                "reported_offset < json_extract(?, '$[' || reported_partition || ']')))",
            ]
            parameters: list[Any] = [
                recipient,
                sent_since,
                sent_until,
                reported_since,
                reported_until,
            ]
            if cursor.after is not None:
                conditions.append("task_id > ?")
                parameters.append(cursor.after)
            if status is not None:
                conditions.append("status = ?")
                parameters.append(status)
            if since is not None:
                conditions.append("changed_at >= ?")
                parameters.append(instant(since))
            query = (
                f"SELECT task_id, view FROM tasks WHERE {' AND '.join(conditions)} "
                "ORDER BY task_id LIMIT ?"
            )
            async with self.connection.execute(query, (*parameters, limit + 1)) as rows:
                found = [(row[0], json.loads(row[1])) async for row in rows]
            shown = found[:limit]
            if len(found) > limit:
                following = Cursor(cursor.since, until, shown[-1][0])
            else:
                following = Cursor(
                    tuple(max(a, b) for a, b in zip(cursor.since, until, strict=True))
                )
            return Page([view for _, view in shown], following.encode(), len(found) > limit)

    async def escalations(self, cursor: Cursor | None, limit: int) -> Page:
        """Escalations after the cursor, per partition of their topic in offset order (each
        is one record: its place is the same on every replica). An escalation whose task's
        view the model does not hold yet holds its partition back (`_escalations_held_back`):
        what a supervisor is shown of a task is audited with its legal basis, which the view
        carries."""
        async with self.folding:
            partitions = self.topics.partitions
            since = cursor.since if cursor else (0,) * partitions
            until = await self._escalations_held_back(since, partitions)
            async with self.connection.execute(
                "SELECT partition, offset, escalation FROM escalations "
                "WHERE offset >= json_extract(?, '$[' || partition || ']') "
                "AND offset < json_extract(?, '$[' || partition || ']') "
                "ORDER BY partition, offset LIMIT ?",
                (json.dumps(since), json.dumps(until), limit + 1),
            ) as rows:
                found = [(row[0], row[1], json.loads(row[2])) async for row in rows]
            shown = found[:limit]
            following = list(since)
            for partition, offset, _ in shown:
                following[partition] = max(following[partition], offset + 1)
            if len(found) <= limit:
                read = await self.read_up_to([self.topics.escalations], partitions)
                following = [
                    max(a, min(b, c)) for a, b, c in zip(following, read, until, strict=True)
                ]
            return Page(
                [item for _, _, item in shown],
                Cursor(tuple(following)).encode(),
                len(found) > limit,
            )

    async def _escalations_held_back(
        self, since: tuple[int, ...], partitions: int
    ) -> tuple[int, ...]:
        """Per partition of the escalations, the first offset after `since` whose task's view
        the model does not hold (a page stops there until it does). An escalation detected
        more than `PENDING_HOLD_DAYS` before the newest one holds nothing back: its task's
        record expired from its topic, or was forgotten."""
        until = [2**62] * partitions
        async with self.connection.execute(
            "SELECT partition, MIN(offset) FROM escalations e "
            "WHERE offset >= json_extract(?, '$[' || partition || ']') AND NOT EXISTS "
            "(SELECT 1 FROM tasks t WHERE t.task_id = json_extract(e.escalation, '$.task_id')) "
            "AND julianday(json_extract(e.escalation, '$.detected_at')) >= "
            "julianday((SELECT MAX(json_extract(escalation, '$.detected_at')) "
            "FROM escalations)) - ? GROUP BY partition",
            (json.dumps(since), PENDING_HOLD_DAYS),
        ) as rows:
            async for partition, offset in rows:
                if 0 <= partition < partitions:
                    until[partition] = offset
        return tuple(until)


PENDING_HOLD_DAYS = 1 / 24
"""How long (in record time, behind the newest snapshot or escalation) a snapshot's status or
an escalation of a task not yet read holds a listing round or an escalation page back: its
task is written before either, so it comes soon."""


def _halves(positions: tuple[int, ...], partitions: int) -> tuple[str, str]:
    """A cursor's positions on the recipient's task topic and on completion, as JSON arrays."""
    return json.dumps(positions[:partitions]), json.dumps(positions[partitions:])
