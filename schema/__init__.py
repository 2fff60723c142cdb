"""The GraphQL vocabulary: strawberry types, inputs, scalars and schema extensions.

Types here read relations through ``info.context.loaders`` (batched DataLoaders) and never
touch SQL themselves; the executable schema is assembled in ``resolvers/root.py``.
"""
