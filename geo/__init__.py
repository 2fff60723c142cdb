"""Geometry: input validation (shapely), projections, jurisdiction lookup and boundary import."""
