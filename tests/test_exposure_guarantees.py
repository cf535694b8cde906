"""What an API or webhook delivery promises, held against hostile and unlucky HTTP servers on 127.0.0.1: a redirect
is a failure (never a body-less GET reported as delivered), credentials never reach another origin nor the run log,
Retry-After is honoured within the policy's limits, a partial delivery says so, and every batch carries an
idempotency key a receiver can deduplicate re-runs with."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
from typing import Any, Iterator

import dagster
import pytest

from seeknal_dagster.executors import ExecutorExecutionError
from tests.support.projects import failure_messages, materialization_metadata, materialize
from tests.test_exposures import ORDERS_CSV, Endpoint, api_exposure, deliver, exposure_project, running_endpoint
from tests.test_exposures import endpoint  # noqa: F401 - the fixture

TOKEN = "tok-7f3e9a1c55d2"
PASSWORD = "pw-c0ffee-9b1d"


@pytest.fixture
def other_origin() -> Iterator[Endpoint]:
    """A second server: another origin (another port), which must never see the exposure's credentials."""
    with running_endpoint() as state:
        yield state


def echo_headers(request: dict[str, Any]) -> bytes:
    """An error page of the kind some servers and proxies send: the request's headers and path, echoed."""
    return json.dumps({"you_sent": request["headers"], "path": request["path"]}).encode()


def event_log(result: dagster.ExecuteInProcessResult) -> str:
    return "\n".join(str(event) for event in result.all_events)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("where", ["same origin", "other origin"])
def test_a_redirected_post_fails_and_nothing_reaches_the_redirect_target(
    make_project, endpoint, other_origin, monkeypatch, status, where
):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    target = f"{other_origin.url}/moved" if where == "other origin" else "/moved"
    endpoint.answer(status, headers={"Location": target})
    project = exposure_project(
        make_project, api_exposure(endpoint.url, "  auth: {bearer_token: '${ORDERS_API_TOKEN}'}\n")
    )

    with pytest.raises(ExecutorExecutionError) as raised:
        deliver(project)

    message = raised.value.message
    assert f"HTTP {status}" in message and f"redirect to {target}" in message
    assert "nothing was delivered" in message
    assert [(request["method"], request["path"]) for request in endpoint.requests] == [("POST", "/orders")]
    assert other_origin.requests == []


def test_a_redirect_is_a_failure_for_webhooks_too(make_project, endpoint, other_origin):
    endpoint.answer(302, headers={"Location": f"{other_origin.url}/hook"})
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: notification\ninputs: [{ref: source.orders}]\n"
        f"params: {{url: '{endpoint.url}/hook', retries: 0}}\n",
    )

    result = materialize(project)

    assert not result.success
    assert "HTTP 302" in failure_messages(result)
    assert other_origin.requests == []


@pytest.mark.parametrize(
    "auth, sent_as",
    [
        ("auth: {bearer_token: '${ORDERS_API_TOKEN}'}", f"Bearer {TOKEN}"),
        ("auth: {username: etl, password: '${ORDERS_API_PASSWORD}'}", "Basic " + base64.b64encode(f"etl:{PASSWORD}".encode()).decode()),
        ("headers: {X-Api-Key: '${ORDERS_API_TOKEN}'}", TOKEN),
    ],
    ids=["bearer", "basic", "api-key-header"],
)
def test_credentials_echoed_in_an_error_body_never_reach_the_run_log(make_project, endpoint, monkeypatch, auth, sent_as):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    monkeypatch.setenv("ORDERS_API_PASSWORD", PASSWORD)
    endpoint.answer(400, body=echo_headers)
    project = exposure_project(make_project, api_exposure(endpoint.url, f"  {auth}\n"))

    with dagster.instance_for_test() as instance:
        result = materialize(project, instance=instance)
        stored = "\n".join(dagster.serialize_value(entry) for entry in instance.all_logs(result.run_id))

    assert not result.success
    assert sent_as in json.dumps(endpoint.requests[0]["headers"])  # it was sent, and the server echoed it
    message = failure_messages(result)
    assert "rejected with HTTP 400" in message and "***" in message and "you_sent" in message
    for secret in (TOKEN, PASSWORD, sent_as, base64.b64encode(f"etl:{PASSWORD}".encode()).decode()):
        assert secret not in event_log(result)
        assert secret not in stored


def test_a_token_in_the_url_query_is_scrubbed_from_the_server_answer_and_from_metadata(make_project, endpoint, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    endpoint.answer(404, body=lambda request: f"no route for {request['path']}".encode())
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: api\ninputs: [{ref: source.orders}]\n"
        f"url: '{endpoint.url}/orders?access_token=${{ORDERS_API_TOKEN}}'\nparams: {{retries: 0}}\n",
    )

    result = materialize(project)

    assert endpoint.requests[0]["path"] == f"/orders?access_token={TOKEN}"
    assert not result.success and "HTTP 404 Not Found: no route for /orders?access_token=***" in failure_messages(result)
    assert TOKEN not in event_log(result)


def test_a_token_written_in_the_url_is_masked_in_metadata(make_project, endpoint):
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: api\ninputs: [{ref: source.orders}]\n"
        f"url: '{endpoint.url}/orders?api_key={TOKEN}&batch=a'\n",
    )

    result = materialize(project)

    assert result.success
    assert endpoint.requests[0]["path"] == f"/orders?api_key={TOKEN}&batch=a"
    assert materialization_metadata(result, "exposure/delivery")["seeknal/url"] == f"{endpoint.url}/orders?api_key=***&batch=a"
    assert TOKEN not in event_log(result)


@pytest.mark.parametrize("retry_after", ["seconds", "http-date"])
def test_retry_after_is_honoured(make_project, endpoint, retry_after):
    def in_two_seconds() -> dict[str, str]:  # an HTTP date has whole seconds: the wait is between 1 and 2 s
        moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
        return {"Retry-After": email.utils.format_datetime(moment, usegmt=True)}

    endpoint.answer(503, headers={"Retry-After": "1"} if retry_after == "seconds" else in_two_seconds)
    project = exposure_project(make_project, api_exposure(endpoint.url, batch_size=10))

    assert deliver(project).row_count == 5

    first, second = endpoint.requests
    # The backoff alone would have waited 0.01 s; the server asked for (at least) about a second.
    assert second["received"] - first["received"] >= 0.9
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]


def test_a_retry_after_longer_than_the_policy_allows_fails_at_once(make_project, endpoint):
    endpoint.answer(429, headers={"Retry-After": "3600"})
    project = exposure_project(make_project, api_exposure(endpoint.url, "  max_wait: 5\n"))

    with pytest.raises(ExecutorExecutionError) as raised:
        deliver(project)

    assert "HTTP 429" in raised.value.message
    assert "asks to retry after 3600s, longer than max_wait (5s)" in raised.value.message
    assert len(endpoint.requests) == 1


def test_only_a_2xx_is_delivered(make_project, endpoint):
    endpoint.answer(201, 204, 304)
    project = exposure_project(make_project, api_exposure(endpoint.url, "  retries: 0\n"))

    with pytest.raises(ExecutorExecutionError) as raised:
        deliver(project)

    assert "batch 3 of 3" in raised.value.message and "HTTP 304" in raised.value.message


def test_a_partial_delivery_is_reported_with_its_progress_and_is_no_materialization(make_project, endpoint):
    endpoint.answer(200, 200, 422)
    project = exposure_project(make_project, api_exposure(endpoint.url))

    result = materialize(project)

    assert not result.success
    assert "exposure/delivery" not in {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    message = failure_messages(result)
    assert "batch 3 of 3" in message and "rejected with HTTP 422" in message
    assert "partial delivery: 4 of 5 row(s) in 2 of 3 batch(es) were delivered" in message
    [observation] = [
        event.event_specific_data.asset_observation
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
        and event.event_specific_data.asset_observation.asset_key == dagster.AssetKey(["exposure", "delivery"])
    ]
    progress = {key: value.value for key, value in observation.metadata.items()}
    assert progress["seeknal/partial"] is True
    assert (progress["seeknal/batches_sent"], progress["seeknal/failed_batch"], progress["seeknal/batches_total"]) == (2, 3, 3)
    assert (progress["seeknal/rows_delivered"], progress["seeknal/rows_total"]) == (4, 5)


def test_each_batch_carries_an_idempotency_key_that_a_rerun_of_the_same_data_repeats(make_project, endpoint):
    project = exposure_project(make_project, api_exposure(endpoint.url))

    def keys_sent() -> list[str]:
        keys = [request["headers"]["Idempotency-Key"] for request in endpoint.requests]
        endpoint.requests.clear()
        return keys

    endpoint.answer(200, 503, 503, 503, 503)  # the second batch fails: a partial delivery
    with pytest.raises(ExecutorExecutionError, match="partial delivery"):
        deliver(project)
    failed = keys_sent()
    deliver(project)
    rerun = keys_sent()
    deliver(project)
    again = keys_sent()

    assert len(set(rerun)) == 3  # one key per batch
    assert rerun == again  # the same data in the same batches: the same keys
    assert failed[0] == rerun[0] and set(failed[1:]) == {rerun[1]}  # retries of a batch keep its key

    (project / "data/orders.csv").write_text(ORDERS_CSV.replace("10.5", "11.5"))
    deliver(project)
    assert not set(keys_sent()) & set(rerun)  # new data: new keys
