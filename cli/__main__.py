"""``python -m cli`` is the same as the ``phananh`` command."""

from cli.main import app

app(prog_name="phananh")
