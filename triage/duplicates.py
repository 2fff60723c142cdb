"""How alike two complaints are: the one scoring rule for possible duplicates.

A candidate is an open complaint within ``RADIUS_M`` metres and ``WINDOW_DAYS`` days of the
new one (so the geography GiST index and the reception time narrow the search: no scan). Its
score is a logistic function of four features: the distance, the time apart, whether the
category is the same, and the trigram similarity of the folded public descriptions.

The weights below are set by hand for the demo (a duplicate is close, recent, of the same
category and says similar things); they are not yet tuned on officials' ``markDuplicate``
decisions, which needs a history of them (the demo has none yet).
"""

RADIUS_M = 300.0
WINDOW_DAYS = 30
WEIGHTS = {
    "intercept": 0.5,
    "per_100_m": -1.2,
    "per_day": -0.15,
    "same_category": 1.5,
    "text_similarity": 4.0,
}
