"""The folded public description, stored: possible duplicates compare it instead of folding.

Possible duplicates (``db/triage.py``, ``DUPLICATES``) score a candidate by the trigram
similarity of the two complaints' public descriptions folded (``fold_text`` of 0015: NFC,
accents off, lower case). Folding every candidate's text on every query was about a third of
the per-candidate work at a million complaints, and most of the training's candidate pairs.
``folded_description`` is that text, computed once when the complaint is written:
``fold_text(redact_personal(description))``, the same expression ``search_vector`` indexes. A
generated column cannot read another (``public_description``), hence the repeated
``redact_personal``; like the other public copies, no code path can forget it or leave it
stale, and it holds no personal data.

``complaint`` is partitioned by year (0018): a column added to the partitioned table is added
to every partition, each rewritten once (its indexes rebuilt); PostgreSQL requires a generated
column to be generated alike in every partition, which ``ALTER TABLE`` on the parent does.

Revision ID: 0024_folded_description
Revises: 0023_placement_deltas
Create Date: 2026-12-03
"""

from alembic import op

revision = "0024_folded_description"
down_revision = "0023_placement_deltas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE complaint ADD COLUMN folded_description text "
               "GENERATED ALWAYS AS (fold_text(redact_personal(description))) STORED")


def downgrade() -> None:
    op.execute("ALTER TABLE complaint DROP COLUMN folded_description")
