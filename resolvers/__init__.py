"""Query and mutation resolvers: they translate arguments and call the services."""
