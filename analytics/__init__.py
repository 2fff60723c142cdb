"""Hotspot maps and performance statistics for planners.

Set-based work (counting per area or grid cell, clustering, neighbour sums) is SQL run by
PostGIS; small per-unit arithmetic (Gi* z-scores, p-values, FDR, Mann–Kendall, smoothing) is
plain Python over a few thousand numbers. Every analysis starts from the platform's one
complaint filter (``db.complaints.ComplaintFilter``), so a filter means the same thing here as
in listings, tiles and exports.
"""
