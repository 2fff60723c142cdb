"""Who is calling: users and roles, area scopes, signed revocable tokens, and the one policy
that says what each caller may see and do."""
