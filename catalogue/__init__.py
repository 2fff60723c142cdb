"""A city's own catalogue as data: category groups, categories with their SLA, sensitivity and
custom attributes (Open311 service definitions), agencies and the areas they serve, routing
rules, and the working-time calendar. ``phananh catalogue apply`` and the ``applyCatalogue``
mutation write it (:mod:`catalogue.apply`); submission checks answers against it
(:mod:`catalogue.attributes`)."""
