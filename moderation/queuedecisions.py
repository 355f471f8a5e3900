"""Moderators' decisions on review items: compare-and-set, the audit trail and conflicts.

Part of the review queue (:mod:`moderation.reviewqueue`), and the first step of the feedback
flow (**review decisions** → export labels → retrain). A decision is an
``UPDATE … WHERE version = <version read>``: when two moderators decide the same item at once,
the first to commit wins, the other's UPDATE matches no row, and both attempts land in the
audit trail (the loser's as ``conflict``) before the loser gets `DecisionConflict`.
`decide` is ``ReviewQueue.decide``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from moderation.queuedatabase import QueueDatabase, QueueError
from moderation.queuetables import (
    APPLIED,
    CONFLICT,
    DECISIONS,
    EXPORT_LABELS,
    PENDING,
    RELABEL,
    STATUS_OF,
    as_utc,
    decisions,
    items,
    utc_now,
)

__all__ = ["DecisionConflict", "DecisionRecord", "audit_trail", "decide"]


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the audit trail (``review_decisions``)."""

    id: int
    item_id: int
    decision: str
    labels: dict[str, int]
    moderator: str
    note: str
    decided_at: dt.datetime
    outcome: str
    detail: str


class DecisionConflict(QueueError):
    """Another decision on the item was committed first; this one was recorded, not applied.

    Attributes
    ----------
    item_id : int
        The item decided.
    winner : DecisionRecord
        The decision that holds (the item's current one).
    attempt : DecisionRecord
        This attempt, as recorded in the audit trail with outcome ``conflict``.
    """

    def __init__(self, message: str, item_id: int, winner: DecisionRecord, attempt: DecisionRecord):
        super().__init__(message)
        self.item_id = item_id
        self.winner = winner
        self.attempt = attempt


def decide(
    queue: QueueDatabase,
    item_id: int,
    decision: str,
    *,
    moderator: str,
    labels: Mapping[str, int] | None = None,
    note: str = "",
    expected_version: int | None = None,
    override: bool = False,
) -> DecisionRecord:
    """Record a moderator's decision on an item; the first committed decision wins.

    The decision is applied with a compare-and-set on the item's ``version``: it
    succeeds only if nobody else decided the item since it was read (or since
    ``expected_version``, e.g. the version a moderator's screen showed). Whether applied
    or not, the attempt is appended to the audit trail.

    Parameters
    ----------
    item_id : int
        The item (``id`` in `list`).
    decision : {"approve", "reject", "relabel"}
        ``approve``: the escalation was wrong (the flagged labels do not apply);
        ``reject``: it was right; ``relabel``: the moderator states the labels.
    moderator : str
        Who decides (recorded in the audit trail).
    labels : mapping of str to int, optional
        For ``relabel`` only: label → 0 or 1, labels from `EXPORT_LABELS`.
    note : str
        Free text kept with the decision.
    expected_version : int, optional
        Apply only if the item still has this version.
    override : bool
        Allow replacing an earlier decision (otherwise an already decided item is a
        conflict).

    Returns
    -------
    DecisionRecord
        The audit-trail row of the applied decision.

    Raises
    ------
    ItemNotFound
        If no item has this id.
    DecisionConflict
        If another decision holds; this attempt is recorded with outcome ``conflict``.
    QueueError
        For an unknown decision, a missing moderator name or bad labels.
    """
    clean = _check_decision(decision, moderator, labels)
    now = utc_now()
    with queue.begin() as conn:
        current = _current(conn, item_id)
        if current is None:
            raise queue.not_found(conn, item_id)
        version = int(current["version"])
        stale = expected_version is not None and expected_version != version
        taken = current["status"] != PENDING and not override
        applied = False
        if not (stale or taken):
            applied = (
                conn.execute(
                    items.update()
                    .where(items.c.id == item_id, items.c.version == version)
                    .values(
                        status=STATUS_OF[decision],
                        version=version + 1,
                        decision=decision,
                        labels=json.dumps(clean, sort_keys=True) if clean else None,
                        decided_by=moderator,
                        decided_at=now,
                        note=note,
                    )
                ).rowcount
                == 1
            )
        if applied:
            detail = f"{STATUS_OF[decision]} (version {version} -> {version + 1})"
        else:
            detail = _conflict_detail(item_id, _current(conn, item_id), expected_version, version)
        attempt = DecisionRecord(
            id=0,
            item_id=item_id,
            decision=decision,
            labels=clean,
            moderator=moderator,
            note=note,
            decided_at=now,
            outcome=APPLIED if applied else CONFLICT,
            detail=detail,
        )
        row = {
            **{k: v for k, v in asdict(attempt).items() if k != "id"},
            "labels": json.dumps(clean, sort_keys=True),
            "based_on_version": expected_version if stale else version,
        }
        inserted = conn.execute(decisions.insert().values(**row).returning(decisions.c.id))
        record = replace(attempt, id=int(inserted.scalar_one()))
        if not applied:
            last = (
                conn.execute(
                    sa.select(decisions)
                    .where(decisions.c.item_id == item_id, decisions.c.outcome == APPLIED)
                    .order_by(decisions.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
    if applied:
        return record
    winner_record = decision_record(last) if last is not None else record
    raise DecisionConflict(
        f"item {item_id}: your {decision} was not applied: {detail}. It is recorded in the "
        "audit trail; pass --override to replace the earlier decision",
        item_id,
        winner_record,
        record,
    )


def audit_trail(conn: Connection, item_id: int | None = None) -> list[DecisionRecord]:
    """The audit trail, oldest first; of one item, or of the whole queue."""
    query = sa.select(decisions).order_by(decisions.c.id)
    if item_id is not None:
        query = query.where(decisions.c.item_id == item_id)
    return [decision_record(r) for r in conn.execute(query).mappings()]


def decision_record(row: Mapping[Any, Any]) -> DecisionRecord:
    """A ``review_decisions`` row as a `DecisionRecord`."""
    stamp = as_utc(row["decided_at"])
    assert stamp is not None  # the column is NOT NULL
    return DecisionRecord(
        id=int(row["id"]),
        item_id=int(row["item_id"]),
        decision=str(row["decision"]),
        labels=json.loads(row["labels"] or "{}"),
        moderator=str(row["moderator"]),
        note=str(row["note"]),
        decided_at=stamp,
        outcome=str(row["outcome"]),
        detail=str(row["detail"]),
    )


def _current(conn: Connection, item_id: int) -> RowMapping | None:
    """The item's status, version and current decision (None for an unknown item)."""
    query = sa.select(
        items.c.status, items.c.version, items.c.decision, items.c.decided_by, items.c.decided_at
    ).where(items.c.id == item_id)
    return conn.execute(query).mappings().first()


def _check_decision(
    decision: str, moderator: str, labels: Mapping[str, int] | None
) -> dict[str, int]:
    if decision not in DECISIONS:
        raise QueueError(f"unknown decision '{decision}'; use one of {', '.join(DECISIONS)}")
    if not moderator or not moderator.strip():
        raise QueueError("a decision needs the moderator's name (--moderator NAME)")
    if decision != RELABEL:
        if labels:
            raise QueueError(f"{decision} takes no labels; use relabel to state labels")
        return {}
    if not labels:
        raise QueueError("relabel needs labels, e.g. toxicity=0,insult=1")
    unknown = [k for k in labels if k not in EXPORT_LABELS]
    if unknown:
        raise QueueError(
            f"unknown label(s) {', '.join(unknown)}; labels are {', '.join(EXPORT_LABELS)}"
        )
    bad = [f"{k}={v}" for k, v in labels.items() if v not in (0, 1)]
    if bad:
        raise QueueError(f"labels must be 0 or 1, got {', '.join(bad)}")
    return {k: int(labels[k]) for k in EXPORT_LABELS if k in labels}


def _conflict_detail(
    item_id: int, winner: RowMapping | None, expected_version: int | None, version: int
) -> str:
    if expected_version is not None and expected_version != version:
        return f"item {item_id} changed since version {expected_version} (now {version})"
    if winner is None or winner["decision"] is None:
        return f"item {item_id} was decided concurrently"
    stamp = as_utc(winner["decided_at"])
    when = stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "earlier"
    return f"already {STATUS_OF[winner['decision']]} by {winner['decided_by']} at {when}"
