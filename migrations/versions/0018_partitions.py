"""Complaints and events partitioned by year; ``complaint_key`` keeps ids and keys unique.

A national deployment holds tens of millions of complaints; most reads name a time window
(listings, statistics, exports, archives). Declarative partitioning by ``created_at`` lets
PostgreSQL skip the years a query cannot touch, and lets an old year be detached or moved
whole. docs/partitions.md explains the choices; in short:

* PostgreSQL requires the partition key in every unique constraint of a partitioned table, and
  a foreign key must reference such a constraint. ``complaint``'s primary key becomes
  ``(id, created_at)``; the global ones (``id``, ``public_id``, ``idempotency_key``) move to the
  narrow, unpartitioned ``complaint_key``, which every table that referred to ``complaint(id)``
  now refers to. ``complaint_key (id, created_at)`` references ``complaint`` ON DELETE CASCADE
  ON UPDATE CASCADE (deleting or re-dating a complaint follows), and ``complaint(id)``
  references ``complaint_key`` (deferred to commit): neither can exist without the other.
* One statement trigger, ``complaint_0_key``, writes the key rows of inserted complaints. It is
  named to fire before the other AFTER INSERT triggers (PostgreSQL fires them by name), whose
  placements refer to the keys.
* ``complaint_event`` is partitioned by ``at``, its key ``(id, at)``; ``outbox``, the one table
  referring to events, gains ``event_at`` and refers to ``(event_id, event_at)``.
* Yearly partitions, ``<table>_y<year>``, for every year that has rows and from three years
  back to two years ahead, and ``<table>_default`` for anything outside them.
  ``add_yearly_partitions(table, first, last)`` creates more; ``phananh db partitions`` calls it.

The rows are moved in place: the old table is renamed, the partitioned one created LIKE it,
the rows copied, and the old table's indexes (GiST included), foreign keys and triggers (data
versions, placements, rollups) are recreated from the catalogue's own definitions; each
partition's indexes are named ``<partition>_<index>``. The downgrade does the reverse.

Revision ID: 0018_partitions
Revises: 0017_grid_rollups
Create Date: 2026-12-02
"""

from alembic import op
from sqlalchemy import text

revision = "0018_partitions"
down_revision = "0017_grid_rollups"
branch_labels = None
depends_on = None

# The partitioned tables and their partition keys (the event log is appended to, by time).
PARTITION_KEYS = {"complaint": "created_at", "complaint_event": "at"}
# Indexes that replace the unique constraints for lookups within the partitioned table.
LOOKUP_INDEXES = {
    "complaint_public_id": "CREATE INDEX complaint_public_id ON complaint (public_id)",
    "complaint_idempotency": "CREATE INDEX complaint_idempotency ON complaint (idempotency_key)",
}
YEARS_BACK, YEARS_AHEAD = 3, 2
OUTBOX_EVENT = """ALTER TABLE outbox ADD CONSTRAINT outbox_event_fkey FOREIGN KEY (event_id,
                  event_at) REFERENCES complaint_event (id, at) ON DELETE CASCADE"""

NAME_INDEXES = """
    CREATE FUNCTION name_partition_indexes(part regclass) RETURNS void LANGUAGE plpgsql AS $$
    -- Name a partition's indexes <partition>_<the partitioned index's name> (PostgreSQL's own
    -- names, such as complaint_y2026_location_idx1, say nothing of the index they belong to).
    DECLARE
        pair record;
    BEGIN
        FOR pair IN
            SELECT i.inhrelid::regclass AS child, format('%s_%s', c.relname, p.relname) AS name
            FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indexrelid
            JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class c ON c.oid = part
            WHERE x.indrelid = part
        LOOP
            CONTINUE WHEN pair.child::text = pair.name;
            EXECUTE format('ALTER INDEX %s RENAME TO %I', pair.child, pair.name);
        END LOOP;
    END $$"""

ADD_PARTITIONS = """
    CREATE FUNCTION add_yearly_partitions(parent text, first_year integer, last_year integer)
    RETURNS SETOF text LANGUAGE plpgsql AS $$
    -- Create the missing yearly partitions <parent>_y<year>, returning their names. Rows
    -- already in <parent>_default for such a year stop it (PostgreSQL refuses the partition):
    -- create partitions ahead of time.
    DECLARE
        year integer;
        name text;
    BEGIN
        FOR year IN first_year .. last_year LOOP
            name := format('%s_y%s', parent, year);
            CONTINUE WHEN to_regclass(name) IS NOT NULL;
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, parent,
                make_timestamptz(year, 1, 1, 0, 0, 0, 'UTC'),
                make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'UTC'));
            PERFORM name_partition_indexes(name::regclass);
            RETURN NEXT name;
        END LOOP;
    END $$"""

KEY_TRIGGER = """
    CREATE FUNCTION complaint_key_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO complaint_key (id, created_at, public_id, idempotency_key)
        SELECT id, created_at, public_id, idempotency_key FROM new_complaints;
        RETURN NULL;
    END $$;
    CREATE TRIGGER complaint_0_key AFTER INSERT ON complaint
    REFERENCING NEW TABLE AS new_complaints
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_key_insert()"""


def _rows(sql: str) -> list[str]:
    return [row[0] for row in op.get_bind().execute(text(sql))]


def _definitions(table: str, referenced: str) -> dict[str, list[str]]:
    """The indexes (other than constraints'), triggers and foreign keys of ``table``, and the
    foreign keys of other tables to ``referenced``, as DDL statements the catalogue writes."""
    return {
        "indexes": [d.replace(" ON ONLY ", " ON ") for d in _rows(f"""
            SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid = '{table}'::regclass AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""")],
        "triggers": _rows(f"""
            SELECT pg_get_triggerdef(oid) FROM pg_trigger
            WHERE tgrelid = '{table}'::regclass AND NOT tgisinternal"""),
        "foreign_keys": _rows(f"""
            SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                          pg_get_constraintdef(oid))
            FROM pg_constraint
            WHERE contype = 'f' AND (conrelid = '{table}'::regclass
                                     OR confrelid = '{referenced}'::regclass)
              AND conparentid = 0"""),
    }


def _move_rows(table: str, partitioned: bool) -> None:
    """Create ``table`` again (partitioned by year of its key, or not) LIKE the old one, copy
    the rows (generated columns are computed again), give it the id sequence, drop the old."""
    old, key = f"{table}_moving", PARTITION_KEYS[table]
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"""CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED
                   INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)"""
               + (f" PARTITION BY RANGE ({key})" if partitioned else ""))
    if partitioned:
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        op.execute(f"""
            SELECT add_yearly_partitions('{table}', year, year) FROM (
                SELECT DISTINCT extract(year FROM {key} AT TIME ZONE 'UTC')::int FROM {old}
                UNION SELECT generate_series(this_year - {YEARS_BACK}, this_year + {YEARS_AHEAD})
                FROM (SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int) AS now(this_year)
            ) AS years(year) ORDER BY year""")
    columns = ", ".join(_rows(f"""
        SELECT quote_ident(attname) FROM pg_attribute
        WHERE attrelid = '{old}'::regclass AND attnum > 0 AND NOT attisdropped
          AND attgenerated = '' ORDER BY attnum"""))
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {old}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"DROP TABLE {old} CASCADE")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id"
               + (f", {key})" if partitioned else ")"))


def _recreate(definitions: dict[str, list[str]], old_target: str, new_target: str,
              skip: tuple[str, ...] = ()) -> None:
    """Run the saved definitions again but those naming ``skip``, foreign keys to
    ``old_target`` now to ``new_target``."""
    for statement in definitions["indexes"] + definitions["triggers"] + [
            fk.replace(f"REFERENCES {old_target}(", f"REFERENCES {new_target}(")
            for fk in definitions["foreign_keys"]]:
        if not any(f" {name} " in statement for name in skip):
            op.execute(statement)


def _name_indexes(table: str) -> None:
    op.execute(f"""SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits
                   WHERE inhparent = '{table}'::regclass""")


def upgrade() -> None:
    op.execute(NAME_INDEXES)
    op.execute(ADD_PARTITIONS)
    saved = _definitions("complaint", "complaint")
    _move_rows("complaint", partitioned=True)
    op.execute("""
        CREATE TABLE complaint_key (
            id bigint PRIMARY KEY,
            created_at timestamptz NOT NULL,
            public_id text NOT NULL CONSTRAINT complaint_public_id_key UNIQUE,
            idempotency_key text CONSTRAINT complaint_idempotency_key_key UNIQUE,
            CONSTRAINT complaint_key_complaint FOREIGN KEY (id, created_at)
                REFERENCES complaint (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE
        )""")
    op.execute("""INSERT INTO complaint_key (id, created_at, public_id, idempotency_key)
                  SELECT id, created_at, public_id, idempotency_key FROM complaint""")
    op.execute("""ALTER TABLE complaint ADD CONSTRAINT complaint_has_key FOREIGN KEY (id)
                  REFERENCES complaint_key (id) DEFERRABLE INITIALLY DEFERRED""")
    for statement in LOOKUP_INDEXES.values():
        op.execute(statement)
    op.execute(KEY_TRIGGER)
    _recreate(saved, "complaint", "complaint_key")
    _name_indexes("complaint")

    # The outbox refers to an event by its whole key, which now holds the time.
    saved = _definitions("complaint_event", "complaint_event")
    op.execute("ALTER TABLE outbox ADD COLUMN event_at timestamptz")
    op.execute("UPDATE outbox o SET event_at = e.at FROM complaint_event e WHERE e.id = o.event_id")
    op.execute("ALTER TABLE outbox ALTER COLUMN event_at SET NOT NULL")
    _move_rows("complaint_event", partitioned=True)
    _recreate(saved, "complaint_event", "complaint_event", skip=("outbox_event_id_fkey",))
    op.execute(OUTBOX_EVENT)
    _name_indexes("complaint_event")
    op.execute("ANALYZE complaint, complaint_event, complaint_key")


def downgrade() -> None:
    saved = _definitions("complaint_event", "complaint_event")
    _move_rows("complaint_event", partitioned=False)
    _recreate(saved, "complaint_event", "complaint_event", skip=("outbox_event_fkey",))
    op.execute("""ALTER TABLE outbox DROP COLUMN event_at, ADD CONSTRAINT outbox_event_id_fkey
                  FOREIGN KEY (event_id) REFERENCES complaint_event (id) ON DELETE CASCADE""")

    saved = _definitions("complaint", "complaint_key")
    op.execute("DROP TRIGGER complaint_0_key ON complaint")
    op.execute("DROP FUNCTION complaint_key_insert()")
    op.execute("ALTER TABLE complaint DROP CONSTRAINT complaint_has_key")
    op.execute("DROP TABLE complaint_key CASCADE")
    _move_rows("complaint", partitioned=False)
    op.execute("ALTER TABLE complaint "
               "ADD CONSTRAINT complaint_public_id_key UNIQUE (public_id), "
               "ADD CONSTRAINT complaint_idempotency_key_key UNIQUE (idempotency_key)")
    _recreate(saved, "complaint_key", "complaint",
              skip=(*LOOKUP_INDEXES, "complaint_0_key", "complaint_has_key"))
    op.execute("DROP FUNCTION add_yearly_partitions(text, integer, integer)")
    op.execute("DROP FUNCTION name_partition_indexes(regclass)")
