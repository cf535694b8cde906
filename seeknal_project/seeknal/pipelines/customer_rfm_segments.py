# /// script
# requires-python = ">=3.11"
# dependencies = ["pandas>=2.2", "pyarrow"]
# ///
"""RFM segments for the CRM team: recency, frequency and monetary scores of every customer who ordered.

Quintile scores are a few lines of pandas (``qcut`` over ranks) and awkward in SQL, so this node is Python.
seeknal-dagster runs it in a process of its own and writes its rows like any other node's.
"""

import pandas as pd
from seeknal.pipeline import transform

#: (segment, condition on the recency and frequency scores), first match wins.
SEGMENTS = [
    ("champions", "r >= 4 and f >= 4"),
    ("loyal", "r >= 3 and f >= 3"),
    ("new", "r >= 4 and f <= 2"),
    ("at_risk", "r <= 2 and f >= 3"),
    ("hibernating", "r <= 2 and f <= 2"),
    ("needs_attention", "r == r"),
]


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1 (worst fifth) to 5 (best fifth); ties broken by position so every fifth has its share of customers."""
    ranks = values.rank(method="first", ascending=higher_is_better)
    return pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype("int64")


@transform(
    name="customer_rfm_segments",
    description="RFM quintile scores and a segment per customer who ordered, for CRM campaigns.",
    tags=["gold", "customer", "crm"],
    inputs=["transform.customer_360"],
    dagster={"owners": ["team:growth"], "retries": 1},
)
def customer_rfm_segments(ctx):
    customers = ctx.ref("transform.customer_360")
    buyers = customers[customers["order_count"] > 0]
    scored = pd.DataFrame(
        {
            "customer_id": buyers["customer_id"],
            "recency_days": buyers["days_since_last_order"].astype("int64"),
            "order_count": buyers["order_count"],
            "net_revenue": buyers["net_revenue"],
            "r": quintile_score(buyers["days_since_last_order"], higher_is_better=False),
            "f": quintile_score(buyers["order_count"]),
            "m": quintile_score(buyers["net_revenue"]),
        }
    )
    scored["segment"] = None
    for segment, condition in SEGMENTS:
        scored.loc[scored["segment"].isna() & scored.eval(condition), "segment"] = segment
    scored["rfm_score"] = scored["r"].astype(str) + scored["f"].astype(str) + scored["m"].astype(str)
    print(scored["segment"].value_counts().to_string())
    return scored.rename(columns={"r": "r_score", "f": "f_score", "m": "m_score"}).sort_values("customer_id")
