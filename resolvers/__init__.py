"""Query and mutation resolvers, the request context and its DataLoaders."""
