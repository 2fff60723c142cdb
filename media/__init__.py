"""Photos of complaints: checked by content, re-encoded without metadata, stored by hash."""
