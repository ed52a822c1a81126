"""The command line's pieces in-process (click's runner): usage errors, durations, graphs, documents."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from liteflow import documents
from liteflow.cli.actions import parse_duration
from liteflow.cli.graph import draw
from liteflow.cli.main import cli
from liteflow.core import *

HERE = Path(__file__).parent


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"LITEFLOW_APP": None, "LITEFLOW_PERSISTENCE": None})
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list"], "say where to connect"),
        (["--persistence", "postgres://db", "list"], "unknown persistence URL scheme 'postgres'"),
        (["--persistence", "memory://", "list", "--status", "DONE"], "'DONE' is not one of"),
        (["--persistence", "memory://", "start", "X"], "start needs --app"),
        (["--persistence", "memory://", "graph", "X"], "graph needs --app"),
        (["--persistence", "memory://", "purge", "--status", "COMPLETE", "--older-than", "7 days"], "not a duration"),
        (["--persistence", "memory://", "publish", "e", "k", "--data", "{bad"], "not valid JSON"),
        (["--app", "no_such_module_here:host", "list"], "no module named 'no_such_module_here'"),
        (["--app", "x:y", "--persistence", "memory://", "list"], "not both"),
        (["worker"], "worker needs MODULE:ATTR"),
    ],
)
def test_usage_errors_exit_2_with_a_message(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2, output
    assert message in output


def test_not_found_exits_1() -> None:
    code, output = invoke("--persistence", "memory://", "show", "nope")
    assert code == 1 and output.strip() == "liteflow: workflow instance 'nope' not found"


def test_memory_client_verbs_run() -> None:
    code, output = invoke("--persistence", "memory://", "list", "--json")
    assert (code, json.loads(output)) == (0, [])
    code, output = invoke("--persistence", "memory://", "stats", "--json")
    assert code == 0
    assert json.loads(output) == {
        "instances": {"RUNNABLE": 0, "SUSPENDED": 0, "COMPLETE": 0, "TERMINATED": 0, "total": 0},
        "queues": {"workflow": 0, "event": 0},
    }
    code, output = invoke("--persistence", "memory://", "purge", "--status", "complete", "--older-than", "1h30m")
    assert (code, output.strip()) == (0, "0")
    code, output = invoke("--persistence", "memory://", "publish", "e", "k", "--data", '{"a": 1}')
    assert code == 0 and len(output.strip()) == 36


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1h30m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("0s", timedelta()),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "7d garbage", "-1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


class Branchy(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .name("begin")
            .if_(lambda data, context: True)
            .do(lambda b: b.start_with(lambda context: None).name("inside"))
            .then(lambda context: None)
            .name("end")
        )


def test_graphs_draw_steps_next_steps_and_branches() -> None:
    definition = configure_workflow_host().register_workflow(Branchy())
    text = draw(definition, "text")
    assert text.splitlines()[0] == "Branchy v1"
    assert "* #0 begin" in text and "=> #2 inside" in text and "-> #3 end" in text
    mermaid = draw(definition, "mermaid")
    assert 's0["#0 begin"]' in mermaid and "s0 --> s1" in mermaid and "s1 -.->" in mermaid
    dot = draw(definition, "dot")
    assert dot.startswith('digraph "Branchy v1" {') and "s1 -> s2 [style=dashed" in dot and dot.endswith("}")


def test_detail_document_uses_step_names_and_status_names() -> None:
    host = configure_workflow_host()
    definition = host.register_workflow(Branchy())
    with host:
        wid = host.start_workflow("Branchy", None, {"n": 1})
        instance = host.wait_for_workflow(wid)
    document = documents.detail(instance, definition, host.get_errors(wid))
    assert document["status"] == "COMPLETE" and document["data"] == {"n": 1}
    assert [p["step_name"] for p in document["pointers"]] == ["begin", "If", "inside", "end"]
    assert all(p["status"] == "COMPLETE" and p["duration"] is not None for p in document["pointers"])
    assert document["errors"] == []
    json.dumps(document)  # JSON as it is


def test_without_the_cli_extra_the_command_names_it() -> None:
    import subprocess
    import sys

    code = "import sys; sys.modules['click'] = None; from liteflow.cli import main; main(['--help'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "liteflow: the command needs click: pip install 'liteflow-workflows[cli]'"


MEMORY_APP = "from liteflow.core import configure_workflow_host\nhost = configure_workflow_host()\n"


@pytest.mark.parametrize("processes", ["1", "2"])
def test_metrics_without_prometheus_client_is_a_usage_error_naming_the_extra(tmp_path: Path, processes: str) -> None:
    import subprocess
    import sys

    (tmp_path / "memapp.py").write_text(MEMORY_APP)
    code = (
        "import sys; sys.modules['prometheus_client'] = None; from liteflow.cli import main; "
        f"main(['worker', 'memapp:host', '--processes', '{processes}', '--metrics-port', '9'])"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'liteflow-workflows[metrics]'" in done.stderr
    assert "supervisor.child_started" not in done.stderr  # refused before any child is spawned


def test_a_dashboard_without_its_extra_is_one_line_naming_it() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['starlette'] = None; from liteflow.cli import main; "
        "main(['--persistence', 'memory://', 'dashboard'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "liteflow: liteflow.dashboard needs its extra: pip install 'liteflow-workflows[dashboard]'"
    )


def test_the_supervisor_stops_at_a_childs_usage_error_and_backs_off_restarts() -> None:
    import sys
    import threading

    from liteflow.cli import supervisor

    assert supervisor.Supervisor([[sys.executable, "-c", "raise SystemExit(2)"]]).run() == 2

    dying = supervisor.Supervisor([[sys.executable, "-c", "raise SystemExit(1)"]])
    slot = dying.slots[0]
    seen = threading.Event()

    def watch() -> None:  # after the third start, stop it as a signal would
        while len(slot.exit_codes) < 2:
            seen.wait(0.05)
        dying._on_signal(15, None)

    threading.Thread(target=watch, daemon=True).start()
    assert dying.run() in (0, 1)
    assert slot.exit_codes[:2] == [1, 1]
    assert slot.backoff >= 4.0  # 1 s, then 2 s, doubling while the child keeps dying young


def test_processes_default_to_one() -> None:
    from liteflow.cli.supervisor import cpu_count

    assert cpu_count() >= 1
    code, output = invoke("worker", "--help")
    assert code == 0 and "--processes" in output and "(default 1:" in " ".join(output.split())
