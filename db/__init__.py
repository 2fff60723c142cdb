"""Persistence: table definitions, the pooled engine, and the SQL for complaints."""
