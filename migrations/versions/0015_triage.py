"""Public free text: personal data redacted, and searchable without accents or case.

Citizens write phone numbers, e-mails, ID card numbers (12-digit CCCD) and licence plates into
descriptions and addresses. Two SQL functions give the public copy of such text one home:

* ``redact_personal(text)`` replaces each of them with a bracketed label (``[SĐT]``,
  ``[email]``, ``[CCCD]``, ``[biển số]``) and leaves ordinary numbers (house numbers, dates,
  amounts with thousands separators) alone;
* ``fold_text(text)`` is the text folded for search: NFC, accents off (``unaccent``, whose
  rules map ``đ`` to ``d``), lower case. So "duong ngap nuoc" finds "Đường ngập nước".

Both are IMMUTABLE (``unaccent`` is only STABLE because its dictionary could be changed; the
wrapper names it explicitly, the usual way to index it), so the complaint stores, as generated
columns that no code path can forget or leave stale:

* ``public_description`` and ``public_address``: what the public, tiles, OGC and exports read;
* ``search_vector``: the folded public description as a ``simple`` tsvector, GIN-indexed. Only
  public text goes into it, so searching for a reporter's phone number can never reveal that a
  complaint exists.

``pg_trgm`` scores how alike two descriptions are, for possible duplicates (computed on the
few candidates the spatial index finds, so it needs no index of its own).

``complaint_support`` records "me too": a citizen who finds their problem already reported
supports that complaint instead of filing a second one; ``complaint.support_count`` counts them
(public), and their contact details are kept beside it for the officials who act on it.

``triage_model`` keeps the versions of the category suggestion model (``phananh triage
train``): every server process serves the one marked active, so all give the same answers.

Revision ID: 0015_triage
Revises: 0014_open311
Create Date: 2026-12-02
"""

from alembic import op

revision = "0015_triage"
down_revision = "0014_open311"
branch_labels = None
depends_on = None

FOLD_TEXT = """
    CREATE FUNCTION fold_text(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
        SELECT lower(public.unaccent('public.unaccent'::regdictionary, normalize(t, NFC)))
    $$"""

# Applied in this order: e-mails first (their digits are not a phone), plates before ID numbers
# and phones (a plate's digits are fewer), phones last. No POSIX classes: their colons would
# read as bind parameters. Look-arounds keep a match from starting
# or ending inside a longer number, so amounts such as 84.500.000.000 and dates survive.
PATTERNS = (
    (r"[\w.%+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}", "[email]"),
    (r"(?<!\w)[0-9]{2}-?[A-Za-z]{1,2}[0-9]?[ .-]{1,2}[0-9]{3}\.?[0-9]{2}"
     r"(?!\w)", "[biển số]"),
    (r"(?<![0-9])[0-9]{12}(?![0-9])", "[CCCD]"),
    # Mobile and fixed lines: 0…, +84…, 84 followed by nine digits, (0xx) area codes; digits
    # grouped by spaces, dots, dashes.
    (r"(?<![0-9+])(\+84|84(?=[0-9]{9}(?![0-9]))|0|\(0(?=[0-9]{2,3}\)))[ .-]?[1-9]"
     r"([ .)-]{0,2}[0-9]){7,9}(?![0-9])", "[SĐT]"),
)


def _redact_body() -> str:
    body = "t"
    for pattern, label in PATTERNS:
        body = f"regexp_replace({body}, '{pattern}', '{label}', 'g')"
    return body


REDACT_PERSONAL = f"""
    CREATE FUNCTION redact_personal(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ SELECT {_redact_body()} $$"""

COLUMNS = {
    "public_description": "text GENERATED ALWAYS AS (redact_personal(description)) STORED",
    "public_address": "text GENERATED ALWAYS AS (redact_personal(address)) STORED",
    "search_vector": "tsvector GENERATED ALWAYS AS "
                     "(to_tsvector('simple'::regconfig, fold_text(redact_personal(description))))"
                     " STORED",
}


TRIAGE_MODEL = """
    CREATE TABLE triage_model (
        version serial PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        trained_from timestamptz NOT NULL,
        trained_to timestamptz NOT NULL,
        samples integer NOT NULL,
        metrics jsonb NOT NULL DEFAULT '{}',
        model bytea NOT NULL,
        active boolean NOT NULL DEFAULT false
    )"""


COMPLAINT_SUPPORT = """
    CREATE TABLE complaint_support (
        id bigserial PRIMARY KEY,
        complaint_id bigint NOT NULL REFERENCES complaint (id) ON DELETE CASCADE,
        user_id integer REFERENCES app_user (id) ON DELETE SET NULL,
        name text,
        phone text,
        email text,
        created_at timestamptz NOT NULL DEFAULT now()
    )"""


def upgrade() -> None:
    op.execute(TRIAGE_MODEL)
    op.execute(COMPLAINT_SUPPORT)
    op.execute("CREATE UNIQUE INDEX complaint_support_once ON complaint_support "
               "(complaint_id, user_id) WHERE user_id IS NOT NULL")
    op.execute("CREATE INDEX complaint_support_complaint ON complaint_support (complaint_id)")
    op.execute("ALTER TABLE complaint ADD COLUMN support_count integer NOT NULL DEFAULT 0")
    op.execute("CREATE UNIQUE INDEX triage_model_active ON triage_model (active) WHERE active")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    op.execute(FOLD_TEXT)
    op.execute(REDACT_PERSONAL)
    op.execute("ALTER TABLE complaint " + ", ".join(
        f"ADD COLUMN {name} {definition}" for name, definition in COLUMNS.items()))
    op.execute("CREATE INDEX complaint_search ON complaint USING gin (search_vector)")


def downgrade() -> None:
    op.execute("DROP INDEX complaint_search")
    op.execute("ALTER TABLE complaint " + ", ".join(f"DROP COLUMN {name}" for name in COLUMNS))
    op.execute("DROP FUNCTION redact_personal(text)")
    op.execute("DROP FUNCTION fold_text(text)")
    op.execute("DROP TABLE triage_model")
    op.execute("DROP TABLE complaint_support")
    op.execute("ALTER TABLE complaint DROP COLUMN support_count")
