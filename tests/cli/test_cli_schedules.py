"""``liteflow schedules`` / ``schedule`` / ``unschedule`` as processes against the real Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from clirun import Worker, eventually, fails, liteflow, ok

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def by_url(env: dict[str, str]) -> dict[str, str]:
    return {**env, "LITEFLOW_PERSISTENCE": env["LITEFLOW_TEST_URL"], "LITEFLOW_PREFIX": env["LITEFLOW_TEST_PREFIX"]}


def test_schedule_list_and_unschedule(env: dict[str, str]) -> None:
    assert json.loads(ok(liteflow(by_url(env), "schedules", "--json", app=False))) == []
    assert "no schedules" in ok(liteflow(by_url(env), "schedules", app=False))

    said = ok(liteflow(env, "schedule", "nightly", "Greet", "--cron", "0 2 * * *", "--data", '{"key": "n"}')).strip()
    assert said.startswith("nightly scheduled: next run ")
    ok(liteflow(env, "schedule", "hourly", "Chain", "--every", "1h30m", "--timezone", "Europe/Paris"))

    rows = json.loads(ok(liteflow(by_url(env), "schedules", "--json", app=False)))
    assert [(r["id"], r["definition_id"], r["cron"], r["every"]) for r in rows] == [
        ("hourly", "Chain", None, 5400.0),
        ("nightly", "Greet", "0 2 * * *", None),
    ]
    assert rows[1]["data"] == {"key": "n"} and rows[0]["timezone"] == "Europe/Paris"
    now = datetime.now(timezone.utc)
    nightly = datetime.fromisoformat(rows[1]["next_run_time"])
    assert (nightly.hour, nightly.minute) == (2, 0) and now < nightly <= now + timedelta(days=1)
    hourly = datetime.fromisoformat(rows[0]["next_run_time"])
    assert now < hourly <= now + timedelta(hours=1, minutes=31)
    assert said.endswith(nightly.isoformat())
    table = ok(liteflow(env, "schedules"))
    assert "cron 0 2 * * *" in table and "every 1h30m00s" in table and "hourly" in table

    # scheduling an id again replaces it
    ok(liteflow(env, "schedule", "hourly", "Chain", "--every", "2h"))
    rows = json.loads(ok(liteflow(env, "schedules", "--json")))
    assert [(r["id"], r["every"]) for r in rows] == [("hourly", 7200.0), ("nightly", None)]

    assert ok(liteflow(by_url(env), "unschedule", "nightly", app=False)).strip() == "nightly unscheduled"
    assert "no schedule 'nightly'" in fails(liteflow(env, "unschedule", "nightly"))
    assert [r["id"] for r in json.loads(ok(liteflow(env, "schedules", "--json")))] == ["hourly"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["schedule", "s", "Greet"], 2, "exactly one of --cron EXPR or --every DURATION"),
        (["schedule", "s", "Greet", "--cron", "* * * * *", "--every", "1m"], 2, "exactly one of"),
        (["schedule", "s", "Greet", "--cron", "not a cron"], 2, "invalid cron expression"),
        (["schedule", "s", "Greet", "--every", "soon"], 2, "not a duration"),
        (["schedule", "s", "Greet", "--every", "1m", "--timezone", "Mars/Olympus"], 2, "unknown timezone"),
        (["schedule", "s", "Greet", "--every", "1m", "--data", "{x"], 2, "not valid JSON"),
        (["schedule", "s", "Nope", "--every", "1m"], 1, "Nope"),
    ],
)
def test_bad_schedules_are_refused_without_a_traceback(
    env: dict[str, str], args: list[str], code: int, message: str
) -> None:
    assert message in fails(liteflow(env, *args), code)
    assert json.loads(ok(liteflow(env, "schedules", "--json"))) == []


def test_schedule_needs_the_app(env: dict[str, str]) -> None:
    result = liteflow(by_url(env), "schedule", "s", "Greet", "--every", "1m", app=False)
    assert "schedule needs --app" in fails(result, 2)


def test_a_worker_starts_what_the_command_scheduled(env: dict[str, str], worker: Worker) -> None:
    ok(liteflow(env, "schedule", "tick", "Chain", "--every", "1s"))

    def started() -> list[dict[str, object]]:
        rows = json.loads(ok(liteflow(env, "list", "--definition", "Chain", "--json")))
        return [r for r in rows if str(r["reference"]).startswith("schedule:tick:") and r["status"] == "COMPLETE"]

    eventually(started, timeout=60)
    ok(liteflow(env, "unschedule", "tick"))
