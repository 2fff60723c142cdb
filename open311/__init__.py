"""Open311 GeoReport v2 under ``/open311/v2/``: a thin mapping onto the services GraphQL uses
(submission, listing and filtering, the privacy policy), in the spec's JSON and XML."""
