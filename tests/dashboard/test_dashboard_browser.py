"""The dashboard in a real headless Chromium: log in, filter the list, open an instance, see its timeline
and graph, terminate it with the button, and find it terminated in the store.

The server is a real process (uvicorn) over Redis; this test's own host is the worker. Screenshots of
the list and of the instance page are written to build/screenshots/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_workflows import WORKFLOWS

from liteflow.core import WorkflowHost, WorkflowStatus, configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = [pytest.mark.redis, pytest.mark.slow]
SERVER = Path(__file__).with_name("dashboard_server.py")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "browser-test-token"


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        message = "no chromium / chromedriver on this machine (apt-get install chromium chromium-driver)"
        if os.environ.get("LITEFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def worker(redis_url: str, redis_cleanup: str) -> Iterator[WorkflowHost]:
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
        queue=RedisQueueProvider(redis_url, prefix=redis_cleanup),
        lock=RedisLockProvider(redis_url, prefix=redis_cleanup),
        poll_interval=0.2,
    )
    for workflow in WORKFLOWS:
        host.register_workflow(workflow())
    with host:
        yield host


@pytest.fixture
def dashboard(redis_url: str, redis_cleanup: str) -> Iterator[str]:
    env = dict(os.environ, LITEFLOW_DASHBOARD_TOKEN=TOKEN)
    server = subprocess.Popen(
        [sys.executable, str(SERVER), redis_url, redis_cleanup], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _navigate(driver: Any, element: Any) -> None:
    """Click ``element`` and wait until the page it leads to has replaced this one (elements found
    before then could belong to the old page and go stale under the test)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_: Any) -> bool:
        try:
            old_page.is_enabled()
        except WebDriverException:  # stale, or "does not belong to the document": the new page is in
            return True
        return False

    WebDriverWait(driver, 15).until(replaced)


def _until(condition: object, what: str, timeout: float = 10) -> None:
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except WebDriverException:  # stale, "does not belong to the document", not there yet: a page loading
            pass
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_filter_open_and_terminate_in_a_browser(browser: object, worker: WorkflowHost, dashboard: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    first = worker.start_workflow("Approval", reference="order-1")
    second = worker.start_workflow("Approval", reference="order-2")
    quick = worker.start_workflow("Quick", reference="quick-1")
    assert worker.wait_for_workflow(quick, timeout=10).status is WorkflowStatus.COMPLETE
    for workflow_id in (first, second):
        _until(
            lambda wid=workflow_id: any(p.event_name for p in worker.get_workflow_instance(wid).execution_pointers),
            "the approvals wait",
        )

    driver.get(dashboard + "/?refresh=0")  # type: ignore[attr-defined]
    assert "/login" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element(By.ID, "token").send_keys(TOKEN)  # type: ignore[attr-defined]
    _navigate(driver, driver.find_element(By.ID, "login"))  # type: ignore[attr-defined]

    rows = driver.find_elements(By.CSS_SELECTOR, "tr.instance")  # type: ignore[attr-defined]
    assert {row.get_attribute("data-id") for row in rows} == {first, second, quick}
    counts = {
        c.get_attribute("data-status"): c.find_element(By.TAG_NAME, "b").text
        for c in driver.find_elements(By.CSS_SELECTOR, ".count")  # type: ignore[attr-defined]
    }
    assert counts["RUNNABLE"] == "2" and counts["COMPLETE"] == "1"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "dashboard-list.png"))  # type: ignore[attr-defined]

    Select(driver.find_element(By.ID, "filter-status")).select_by_value("RUNNABLE")  # type: ignore[attr-defined]
    _navigate(driver, driver.find_element(By.ID, "filter-apply"))  # type: ignore[attr-defined]
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.instance")  # type: ignore[attr-defined]
    assert {row.get_attribute("data-id") for row in rows} == {first, second}
    driver.find_element(By.ID, "filter-reference").send_keys("order-1")  # type: ignore[attr-defined]
    _navigate(driver, driver.find_element(By.ID, "filter-apply"))  # type: ignore[attr-defined]
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.instance")  # type: ignore[attr-defined]
    assert [row.get_attribute("data-id") for row in rows] == [first]

    _navigate(driver, rows[0].find_element(By.TAG_NAME, "a"))
    assert driver.find_element(By.ID, "workflow-id").text == first  # type: ignore[attr-defined]
    bars = driver.find_elements(By.CSS_SELECTOR, "#timeline g.pointer")  # type: ignore[attr-defined]
    assert len(bars) >= 2
    steps = {
        s.get_attribute("data-step-id"): s.get_attribute("data-state")
        for s in driver.find_elements(By.CSS_SELECTOR, "#graph g.step")  # type: ignore[attr-defined]
    }
    assert steps["0"] == "COMPLETE" and steps["1"] == "WAITING_FOR_EVENT" and steps["2"] == "not reached"
    driver.save_screenshot(str(SCREENSHOTS / "dashboard-instance.png"))  # type: ignore[attr-defined]

    driver.find_element(By.ID, "action-terminate").click()  # type: ignore[attr-defined]
    driver.switch_to.alert.accept()  # type: ignore[attr-defined]
    _until(
        lambda: driver.find_element(By.ID, "status").text == "terminated",  # type: ignore[attr-defined]
        "the page shows the workflow terminated",
    )
    assert worker.get_workflow_instance(first).status is WorkflowStatus.TERMINATED
    assert worker.get_workflow_instance(second).status is WorkflowStatus.RUNNABLE
