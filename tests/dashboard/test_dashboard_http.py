"""The dashboard over HTTP: pages, the JSON API, the token, read-only mode, escaping and cross-site POSTs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from liteflow.core import StepBody, Workflow, WorkflowBuilder, WorkflowHost, WorkflowStatus, configure_workflow_host
from liteflow.dashboard import create_app

HOSTILE = "<script>alert('x')</script>"


class Boom(StepBody):
    def run(self, context: Any) -> None:
        raise KeyError("missing-field")


class Waits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).name(HOSTILE).wait_for("go", lambda data, context: "key-1").then(
            lambda context: None
        ).name("after")


class Fails(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Boom)


def _wait_until_waiting(host: WorkflowHost, workflow_id: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while not any(p.event_name for p in host.get_workflow_instance(workflow_id).execution_pointers):
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def host() -> Iterator[WorkflowHost]:
    host = configure_workflow_host(poll_interval=0.1)
    host.register_workflow(Waits())
    host.register_workflow(Fails())
    with host:
        yield host


def test_list_filters_and_api_fields(host: WorkflowHost) -> None:
    waiting = host.start_workflow("Waits", data={"note": HOSTILE}, reference=HOSTILE)
    other = host.start_workflow("Waits", reference="order-2")
    _wait_until_waiting(host, waiting)
    _wait_until_waiting(host, other)
    assert host.terminate_workflow(other)
    client = TestClient(create_app(host))

    rows = client.get("/api/workflows").json()
    assert [row["id"] for row in rows] == [other, waiting]  # newest first
    assert set(rows[0]) >= {"id", "definition_id", "version", "status", "reference", "create_time", "complete_time"}
    assert rows[0]["status"] == "TERMINATED" and rows[1]["status"] == "RUNNABLE"
    assert [r["id"] for r in client.get("/api/workflows?status=RUNNABLE").json()] == [waiting]
    assert [r["id"] for r in client.get("/api/workflows?reference=order-2").json()] == [other]
    assert client.get("/api/workflows?definition=Nope").json() == []
    assert len(client.get("/api/workflows?limit=1").json()) == 1
    assert client.get("/api/workflows?status=BOGUS").status_code == 400

    page = client.get("/")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text  # the hostile reference, escaped
    assert "order-2" in page.text
    assert "order-2" not in client.get("/?status=RUNNABLE").text


def test_instance_page_and_show_api(host: WorkflowHost) -> None:
    workflow_id = host.start_workflow("Waits", data={"note": HOSTILE})
    _wait_until_waiting(host, workflow_id)
    client = TestClient(create_app(host))
    doc = client.get(f"/api/workflows/{workflow_id}").json()
    assert doc["data"] == {"note": HOSTILE}
    assert [p["step_name"] for p in doc["pointers"]][:2] == [HOSTILE, "WaitFor"]
    for pointer in doc["pointers"]:
        assert set(pointer) >= {"id", "step_id", "step_name", "status", "start_time", "end_time", "retry_count"}
    assert doc["errors"] == []
    page = client.get(f"/workflows/{workflow_id}").text
    assert HOSTILE not in page
    assert page.count("&lt;script&gt;") >= 3  # graph, timeline and pointer table
    assert 'class="definition-graph"' in page and 'class="timeline"' in page
    assert 'data-state="WAITING_FOR_EVENT"' in page
    assert client.get("/api/workflows/nope").status_code == 404
    assert client.get("/workflows/nope").status_code == 404


def test_errors_with_tracebacks(host: WorkflowHost) -> None:
    workflow_id = host.start_workflow("Fails")
    import time

    deadline = time.monotonic() + 10
    while not host.get_errors(workflow_id):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    client = TestClient(create_app(host))
    errors = client.get(f"/api/workflows/{workflow_id}").json()["errors"]
    assert errors[0]["message"] == "KeyError: 'missing-field'"
    assert "KeyError: &#39;missing-field&#39;" in client.get(f"/workflows/{workflow_id}").text


def test_read_only_without_a_token(host: WorkflowHost) -> None:
    workflow_id = host.start_workflow("Waits")
    _wait_until_waiting(host, workflow_id)
    client = TestClient(create_app(host))
    assert client.post(f"/api/workflows/{workflow_id}/terminate").status_code == 403
    assert client.post("/api/events", json={"name": "go", "key": "key-1"}).status_code == 403
    assert host.get_workflow_instance(workflow_id).status is WorkflowStatus.RUNNABLE
    assert (
        "read-only" in client.get("/").text
        and 'id="action-terminate"' not in client.get(f"/workflows/{workflow_id}").text
    )


def test_actions_and_events_when_allowed(host: WorkflowHost) -> None:
    workflow_id = host.start_workflow("Waits")
    _wait_until_waiting(host, workflow_id)
    client = TestClient(create_app(host, allow_actions=True))
    assert client.post(f"/api/workflows/{workflow_id}/suspend").json()["status"] == "SUSPENDED"
    assert client.post(f"/api/workflows/{workflow_id}/suspend").status_code == 409
    assert client.post(f"/api/workflows/{workflow_id}/resume").json()["status"] == "RUNNABLE"
    assert client.post(f"/api/workflows/{workflow_id}/explode").status_code == 404
    assert client.post("/api/events", json={"name": "go"}).status_code == 400
    assert client.post("/api/events", json={"name": "go", "key": "key-1", "data": 1}).status_code == 200
    assert host.wait_for_workflow(workflow_id, timeout=10).status is WorkflowStatus.COMPLETE
    # a browser's POST from another site is refused
    cross = client.post(f"/api/workflows/{workflow_id}/terminate", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403


def test_a_token_guards_every_request(host: WorkflowHost, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow_id = host.start_workflow("Waits")
    _wait_until_waiting(host, workflow_id)
    monkeypatch.setenv("LITEFLOW_DASHBOARD_TOKEN", "s3cret")
    client = TestClient(create_app(host))
    assert client.get("/api/workflows").status_code == 401
    assert client.get("/api/workflows", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post(f"/api/workflows/{workflow_id}/terminate").status_code == 401
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    good = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/workflows", headers=good).status_code == 200
    assert client.post(f"/api/workflows/{workflow_id}/suspend", headers=good).status_code == 200
    # the login form sets a cookie that then opens the pages
    assert "not right" in client.post("/login", data={"token": "nope"}).text
    login = client.post("/login?next=/definitions", data={"token": "s3cret"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/definitions"
    assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=strict" in login.headers["set-cookie"]
    assert client.get("/definitions").status_code == 200
    assert client.post(f"/api/workflows/{workflow_id}/terminate").status_code == 200  # with the cookie
    assert host.get_workflow_instance(workflow_id).status is WorkflowStatus.TERMINATED
    assert (
        client.post("/login?next=//evil.example", data={"token": "s3cret"}, follow_redirects=False).headers["location"]
        == "/"
    )


def test_login_returns_to_the_page_asked_for(host: WorkflowHost) -> None:
    client = TestClient(create_app(host, token="t"))
    asked = client.get("/?status=RUNNABLE&refresh=0", follow_redirects=False).headers["location"]
    assert asked == "/login?next=%2F%3Fstatus%3DRUNNABLE%26refresh%3D0"
    login = client.post(asked, data={"token": "t"}, follow_redirects=False)
    assert login.headers["location"] == "/?status=RUNNABLE&refresh=0"


def test_the_definitions_page_shows_graphs_and_schedules(host: WorkflowHost) -> None:
    from datetime import timedelta

    host.schedule_workflow("nightly-<b>", "Waits", cron="0 2 * * *")
    host.schedule_workflow("often", "Fails", every=timedelta(minutes=5))
    page = TestClient(create_app(host)).get("/definitions").text
    assert 'data-id="nightly-&lt;b&gt;"' in page and "0 2 * * *" in page
    assert "every 0:05:00" in page
    assert page.count('class="definition-graph"') == 2
