"""Nestable SQLite transactions on one autocommit connection (`isolation_level=None`).

    with atomic(db):          BEGIN IMMEDIATE ... COMMIT    (ROLLBACK on an exception)
        with atomic(db):      SAVEPOINT ... RELEASE         (ROLLBACK TO on an exception)

An inner failure undoes only the inner block; the outer one goes on if the caller catches it.
Whether a level is the outermost is read from the connection (`in_transaction`), so no
depth is kept that an error could leave wrong: after any failure the connection is back in
autocommit and the next `atomic` starts afresh.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

# Savepoint names may repeat: ROLLBACK TO and RELEASE act on the innermost of that name.
_SAVEPOINT = "atomic"


@contextlib.contextmanager
def atomic(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in a transaction (outermost) or a savepoint (nested); yield `db`."""
    if db.in_transaction:
        db.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield db
        except BaseException:
            # Some errors (disk full, I/O) have already rolled the whole transaction back.
            if db.in_transaction:
                db.execute(f"ROLLBACK TO {_SAVEPOINT}")
                db.execute(f"RELEASE {_SAVEPOINT}")
            raise
        db.execute(f"RELEASE {_SAVEPOINT}")
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (busy, I/O) leaves the transaction open: end it, or every later
        # BEGIN would fail with "cannot start a transaction within a transaction".
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
