"""Map layers in the formats map and GIS tools already speak.

The registry (``registry.py``) names each layer's SQL source, geometry and its explicit public
property allow-list; ``query.py`` turns request parameters into filters; ``tiles.py`` (Mapbox
Vector Tiles, TileJSON), ``ogc.py`` (OGC API – Features) and ``export.py`` (GeoJSON, NDJSON, CSV,
GeoPackage) render the same selections; ``routes.py`` puts them on HTTP.
"""
