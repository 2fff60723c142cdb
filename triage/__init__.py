"""AI-assisted intake: category suggestions learned from the deployment's own history."""
