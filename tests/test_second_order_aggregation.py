"""Second-order aggregations: one row per applicant summarising their dated transactions, checked against pandas."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from tests.support.projects import load_problem, materialize, materialized_keys, replace_in_file, run_node

SOA_YML = """
    kind: second_order_aggregation
    name: applicant_history
    source: source.transactions
    inputs: [{ref: source.transactions}]
    id_col: applicant_id
    feature_date_col: tx_date
    application_date_col: application_date
    features:
      amount:
        basic: [sum, mean, count]
        window: [1, 30]
      recent_vs_older:
        source_feature: amount
        ratio:
          numerator: [1, 7]
          denominator: [8, 30]
          aggs: [sum]
      big_purchases:
        source_feature: amount
        since:
          condition: amount > 100
          aggs: [count, max]
"""


def transactions_csv(seed: int = 3) -> str:
    """Each applicant applied on one day in June 2025 and has transactions around it, some after it."""
    rng = random.Random(seed)
    lines = ["applicant_id,application_date,tx_date,amount"]
    for applicant in range(1, 7):
        applied = date(2025, 6, 1) + timedelta(days=rng.randrange(30))
        for _ in range(20):
            when = applied - timedelta(days=rng.randrange(-5, 45))
            lines.append(f"{applicant},{applied},{when},{round(rng.uniform(1, 250), 2)}")
    return "\n".join(lines) + "\n"


def expected_history(transactions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for applicant, group in transactions.groupby("applicant_id"):
        days = (group["application_date"] - group["tx_date"]).dt.days
        past, month = group["amount"][days >= 0], group["amount"][(days >= 1) & (days <= 30)]
        recent, older = group["amount"][days.between(1, 7)].sum(), group["amount"][days.between(8, 30)].sum()
        big = group["amount"][group["amount"] > 100]
        rows.append(
            {
                "applicant_id": applicant,
                "amount_SUM": past.sum(),
                "amount_MEAN": past.mean(),
                "amount_COUNT": len(past),
                "amount_SUM_1_30": month.sum(),
                "amount_MEAN_1_30": month.mean(),
                "amount_COUNT_1_30": len(month),
                "amount_SUM1_7_SUM8_30": recent / older if older else None,
                "SINCE_COUNT_amount_GEO_D": len(big),
                "SINCE_MAX_amount_GEO_D": big.max(),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def applicants_project(make_project):
    return make_project(
        {
            "data/transactions.csv": transactions_csv(),
            "seeknal/sources/transactions.yml": """
                kind: source
                name: transactions
                source: csv
                table: data/transactions.csv
            """,
            "seeknal/features/applicant_history.yml": SOA_YML,
        }
    )


def read_transactions(project) -> pd.DataFrame:
    return pd.read_csv(project / "data/transactions.csv", parse_dates=["application_date", "tx_date"])


def read_history(project) -> pd.DataFrame:
    return pd.read_parquet(project / "target/intermediate/second_order_aggregation_applicant_history.parquet")


def test_one_row_per_applicant_matches_pandas(applicants_project):
    result = materialize(applicants_project)
    assert result.success
    assert materialized_keys(result) == {"source/transactions", "second_order_aggregation/applicant_history"}

    actual = read_history(applicants_project).sort_values("applicant_id").reset_index(drop=True)
    expected = expected_history(read_transactions(applicants_project))
    assert list(actual.columns) == list(expected.columns)  # Seeknal's names
    pd.testing.assert_frame_equal(actual.astype("float64"), expected.astype("float64"), rtol=1e-9)


def test_the_result_is_also_where_seeknal_leaves_it_with_seeknals_types(applicants_project):
    """``target/second_order_aggregation/<name>/result.parquet`` too, and both files typed as Seeknal's: a sum of
    whole numbers is a DOUBLE there (DuckDB's 128-bit sum, through pandas)."""
    replace_in_file(applicants_project / "seeknal/features/applicant_history.yml", "  amount:\n", "  whole:\n    source_feature: cents\n    basic: [sum]\n  amount:\n")
    transactions = read_transactions(applicants_project)
    transactions["cents"] = (transactions["amount"] * 100).round().astype(int)
    transactions.to_csv(applicants_project / "data/transactions.csv", index=False, date_format="%Y-%m-%d")
    assert materialize(applicants_project).success

    result = applicants_project / "target/second_order_aggregation/applicant_history/result.parquet"
    for path in (result, applicants_project / "target/intermediate/second_order_aggregation_applicant_history.parquet"):
        types = {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
        assert types["applicant_id"] == "BIGINT" and types["cents_SUM"] == "DOUBLE" and types["amount_COUNT"] == "BIGINT"
    actual = pd.read_parquet(result).sort_values("applicant_id").reset_index(drop=True)
    past = transactions[transactions["tx_date"] <= transactions["application_date"]]
    assert list(actual["cents_SUM"]) == [float(total) for total in past.groupby("applicant_id")["cents"].sum()]
    expected = expected_history(read_transactions(applicants_project))
    pd.testing.assert_frame_equal(actual[expected.columns].astype("float64"), expected.astype("float64"), rtol=1e-9)


def test_reads_a_first_order_aggregation_output(make_project):
    """aggregation → second_order_aggregation, through the aggregation's persisted output (Seeknal needs a view
    living in the same process)."""
    project = make_project(
        {
            "data/transactions.csv": transactions_csv(seed=5),
            "seeknal/sources/transactions.yml": "kind: source\nname: transactions\nsource: csv\ntable: data/transactions.csv\n",
            "seeknal/aggregations/daily_spend.yml": """
                kind: aggregation
                name: daily_spend
                source: source.transactions
                id_col: applicant_id
                feature_date_col: tx_date
                application_date_col: application_date
                group_by: [tx_date]
                features:
                  - name: amount
                    basic: [sum]
            """,
            "seeknal/features/spend_profile.yml": """
                kind: second_order_aggregation
                name: spend_profile
                source: aggregation.daily_spend
                id_col: applicant_id
                feature_date_col: tx_date
                application_date_col: application_date
                features:
                  amount_sum:
                    basic: [max, count]
                    window: [0, 13]
            """,
        }
    )
    assert materialize(project).success

    transactions = read_transactions(project)
    daily = transactions.groupby(["applicant_id", "application_date", "tx_date"], as_index=False)["amount"].sum()
    daily["days"] = (daily["application_date"] - daily["tx_date"]).dt.days
    past = daily[daily["days"] >= 0].groupby("applicant_id")["amount"]
    fortnight = daily[daily["days"].between(0, 13)].groupby("applicant_id")["amount"]
    actual = pd.read_parquet(project / "target/intermediate/second_order_aggregation_spend_profile.parquet")
    actual = actual.set_index("applicant_id").sort_index()
    pd.testing.assert_series_equal(actual["amount_sum_MAX"], past.max(), check_names=False, rtol=1e-9)
    assert actual["amount_sum_COUNT"].tolist() == past.count().tolist()
    pd.testing.assert_series_equal(actual["amount_sum_MAX_0_13"], fortnight.max(), check_names=False, rtol=1e-9)


@pytest.mark.parametrize(
    ("written", "broken", "message"),
    [
        ("window: [1, 30]", "window: [30]", "Feature 'amount': window must be a list of two integers"),
        ("numerator: [1, 7]", "numerator: [1, seven]", "ratio.numerator must be a list of two integers"),
        ("denominator: [8, 30]", "denominator: 8", "ratio.denominator must be a list of two integers"),
        ("since:\n      condition: amount > 100\n      aggs: [count, max]", "since: [amount > 100]", "since must be a dictionary"),
        ("basic: [sum, mean, count]\n    window: [1, 30]", "percentile: [50]", "percentile is not supported"),
        ("basic: [sum, mean, count]\n    window: [1, 30]", "source_feature: amount", "at least one aggregation type"),
        ("source: source.transactions", "source: transactions", "expected 'kind.name'"),
        ("application_date_col: application_date\n", "", "missing 'application_date_col'"),
    ],
)
def test_invalid_definitions_give_seeknals_errors(applicants_project, written, broken, message):
    replace_in_file(applicants_project / "seeknal/features/applicant_history.yml", written, broken)
    assert re.search(message, load_problem(applicants_project, "second_order_aggregation.applicant_history"))


def test_a_partition_recomputes_only_the_applicants_who_applied_in_it(applicants_project):
    run_node(applicants_project, "source.transactions")
    run_node(applicants_project, "second_order_aggregation.applicant_history")
    before = read_history(applicants_project).set_index("applicant_id")

    transactions = read_transactions(applicants_project)
    applied_on = transactions.groupby("applicant_id")["application_date"].first()
    day = applied_on.iloc[0]
    transactions["amount"] = transactions["amount"] + 1
    transactions.to_csv(applicants_project / "data/transactions.csv", index=False, date_format="%Y-%m-%d")
    run_node(applicants_project, "source.transactions")
    start = datetime.combine(day.date(), datetime.min.time())
    window = (start, start + timedelta(days=1))
    run_node(applicants_project, "second_order_aggregation.applicant_history", partition_time_window=window)

    after = read_history(applicants_project).set_index("applicant_id")
    redone = applied_on[applied_on == day].index
    assert sorted(after.index) == sorted(before.index)
    pd.testing.assert_frame_equal(after.drop(index=redone), before.drop(index=redone))
    assert after.loc[redone, "amount_COUNT"].tolist() == before.loc[redone, "amount_COUNT"].tolist()
    pd.testing.assert_series_equal(
        after.loc[redone, "amount_SUM"],
        before.loc[redone, "amount_SUM"] + before.loc[redone, "amount_COUNT"],
        check_names=False,
        rtol=1e-9,
    )
