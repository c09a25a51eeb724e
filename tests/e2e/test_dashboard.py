"""The supervisors' dashboard in real headless Chromium (Debian's chromium and chromedriver):
log in, watch a new incident appear, its progress bar move and an overdue task light up, all
without a reload; the screenshots are kept as artifacts."""

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from events.codec import encode
from schemas import IncidentReported, TaskStatus
from tests.support.deployment import Deployment
from tests.support.gateway_stack import Stack, started_stack
from tests.support.outside_clients import librdkafka_report
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, update

pytestmark = pytest.mark.broker

CHROMIUM = os.environ.get("GVI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GVI_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("GVI_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for program in (CHROMIUM, CHROMEDRIVER):
        assert Path(program).exists(), f"{program} is missing: `make browser` installs Debian's"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(driver: WebDriver, holds: Callable[[WebDriver], Any], limit: float = 90) -> Any:
    return WebDriverWait(driver, limit, poll_frequency=0.25).until(holds)


# Read in one script, between two of the page's renders: the page replaces its rows on every
# live update, so an element found in one call can be gone in the next.
ROW = """
const row = document.querySelector(`#incidents tr[data-incident="${arguments[0]}"]`);
if (!row) return null;
const alert = row.querySelector("td.alert");
return {
  classes: row.className,
  text: row.innerText,
  progress: Number(row.querySelector("progress").value),
  alert: alert ? alert.innerText : "",
};
"""
CELLS = """
return [...document.querySelectorAll(arguments[0])].map(
  (element) => ({classes: element.className, text: element.innerText}));
"""


def _row(driver: WebDriver, incident_id: str) -> dict[str, Any] | None:
    found = driver.execute_script(ROW, incident_id)
    return dict(found) if found is not None else None


def _progress(driver: WebDriver, incident_id: str) -> float:
    row = _row(driver, incident_id)
    return -1.0 if row is None else float(row["progress"])


def _cells(driver: WebDriver, selector: str) -> list[dict[str, str]]:
    return [dict(cell) for cell in driver.execute_script(CELLS, selector)]


def _row_has(driver: WebDriver, incident_id: str, field: str, text: str) -> bool:
    row = _row(driver, incident_id)
    return row is not None and text in row[field]


def _still_the_same_page(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.__sameDocument === true"))


def _screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def test_a_supervisor_watches_incidents_progress_and_overdue_tasks_live(
    deployment: Deployment, browser: WebDriver
) -> None:
    group = notified_group("GRP-DASH-A")
    with started_stack(deployment, roles=("supervisor:huddinge",)) as stack:
        deployment.register_groups(group)
        browser.get(f"{stack.base_url}/")
        assert browser.current_url.endswith("/login"), "the dashboard asks who you are first"
        browser.find_element(By.ID, "token").send_keys(stack.tokens["agency:skatteverket"])
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        _until(browser, lambda d: "failed" in d.current_url)
        assert browser.find_element(By.ID, "failed").is_displayed(), "an agency is refused"
        _log_in(browser, stack)
        _until(browser, lambda d: "Live" in d.find_element(By.ID, "live").text)
        browser.execute_script("window.__sameDocument = true")

        fresh = fresh_incident("INC-DASH-1", group.group_id, municipality="Järfälla")
        deployment.publish("incidents", [(fresh.incident_id, encode(fresh))])
        _until(browser, lambda d: _row(d, "INC-DASH-1") is not None)
        assert _progress(browser, "INC-DASH-1") == 0
        _until(browser, lambda d: _row_has(d, "INC-DASH-1", "text", "Järfälla"))

        tasks = expected_tasks(fresh, group)
        finished = [t for t in tasks if t.recipient == "skatteverket"]
        updates = [
            (str(t.task_id), encode(update(str(t.task_id), t.recipient, status)))
            for status in (TaskStatus.ACKNOWLEDGED, TaskStatus.COMPLETED)
            for t in finished
        ]
        librdkafka_report(deployment.bootstrap, deployment.settings.topic_prefix, updates)
        share = round(100 * len(finished) / len(tasks), 1)
        _until(browser, lambda d: abs(_progress(d, "INC-DASH-1") - share) < 0.1)

        # Reported 13 hours ago: the patrol task's 12-hour deadline has passed.
        long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=13)
        late = fresh_incident(
            "INC-DASH-2",
            group.group_id,
            reported_at=long_ago,
            occurred_at=long_ago - timedelta(minutes=20),
            municipality="Huddinge",
        )
        deployment.publish("incidents", [(late.incident_id, encode(late))])
        _until(browser, lambda d: _row_has(d, "INC-DASH-2", "classes", "overdue"))
        overdue_row = _row(browser, "INC-DASH-2")
        assert overdue_row is not None and "overdue" in overdue_row["alert"]
        on_time = _row(browser, "INC-DASH-1")
        assert on_time is not None and "overdue" not in on_time["classes"]
        _until(browser, lambda d: bool(_cells(d, "#escalations li.escalation")))
        assert _still_the_same_page(browser), "everything above arrived without a reload"
        kept = _screenshot(browser, "dashboard.png")
        assert kept.stat().st_size > 10_000

        _until(browser, lambda d: _row_has(d, "INC-DASH-2", "text", "Huddinge"))
        Select(browser.find_element(By.ID, "municipality")).select_by_visible_text("Huddinge")
        _until(browser, lambda d: _row(d, "INC-DASH-1") is None)
        assert _row(browser, "INC-DASH-2") is not None
        Select(browser.find_element(By.ID, "municipality")).select_by_index(0)
        _until(browser, lambda d: _row(d, "INC-DASH-1") is not None)
        browser.find_element(By.ID, "status").send_keys("With overdue")  # typed, as a keyboard user
        _until(browser, lambda d: _row(d, "INC-DASH-1") is None)
        assert _row(browser, "INC-DASH-2") is not None
        [on_time_share] = _cells(browser, '#agencies tr[data-recipient="skatteverket"] td.on-time')
        assert on_time_share["text"] == "100 %"
        listed = [cell["text"] for cell in _cells(browser, "#escalations li")]
        assert listed and len(listed) == len(set(listed)), "each escalation listed once"

        browser.set_window_size(820, 1180)  # a tablet, upright: no sideways scrolling of the page
        fits = "return document.documentElement.scrollWidth <= window.innerWidth"
        assert browser.execute_script(fits)
        _screenshot(browser, "dashboard-tablet.png")

        browser.get(f"{stack.base_url}/incidents/INC-DASH-2")
        # A task is listed once the gateway has read its record (and audited it): soon.
        listed = len(expected_tasks(late, group))
        _until(browser, lambda d: len(_cells(d, "#tasks tbody tr")) == listed)
        rows = _cells(browser, "#tasks tbody tr")
        assert len(rows) == listed
        flagged = [row for row in rows if "overdue" in row["classes"]]
        assert flagged and all("patrol" in row["text"] for row in flagged)
        assert any("tier" in row["text"] for row in rows), "each task names its rule"
        _screenshot(browser, "incident.png")
        if os.environ.get("GVI_KEEP_README_SCREENSHOT"):
            shutil.copy(kept, Path(__file__).parents[2] / "docs" / "dashboard.png")
        _a_partnerships_supervisor_sees_only_that_partnership(stack, browser, fresh, late)


def _a_partnerships_supervisor_sees_only_that_partnership(
    stack: Stack, browser: WebDriver, jarfalla: IncidentReported, huddinge: IncidentReported
) -> None:
    """GVI Huddinge's coordinator, in the same browser after a logout: Huddinge's incident
    only, in the list, the partnerships' numbers, the agencies and the live updates."""
    browser.get(f"{stack.base_url}/")
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    _until(browser, lambda d: d.current_url.endswith("/login"))
    _log_in(browser, stack, "supervisor:huddinge")
    _until(browser, lambda d: "Live" in d.find_element(By.ID, "live").text)
    assert browser.find_element(By.ID, "scope").text == "Partnership: huddinge"
    _until(browser, lambda d: _row(d, huddinge.incident_id) is not None)
    assert _row(browser, jarfalla.incident_id) is None, "Järfälla's incident is not shown"
    _until(browser, lambda d: len(_cells(d, "#partnerships tbody tr")) == 1)
    [numbers] = _cells(browser, "#partnerships tbody tr")
    assert numbers["text"].split()[0] == "huddinge"
    recipients = {cell["text"] for cell in _cells(browser, "#agencies tbody th")}
    assert "police-patrol-huddinge" in recipients
    assert not {r for r in recipients if r.endswith("-jarfalla")}, recipients

    browser.execute_script("window.__sameDocument = true")
    group_id = huddinge.attributions[0].group_id
    elsewhere = fresh_incident("INC-DASH-JAR-2", group_id, municipality="Järfälla")
    mine = fresh_incident("INC-DASH-HUD-3", group_id, municipality="Huddinge")
    stack.deployment.publish("incidents", [(i.incident_id, encode(i)) for i in (elsewhere, mine)])
    stack.until("supervisor", f"/api/v1/incidents/{elsewhere.incident_id}", bool)
    _until(browser, lambda d: _row(d, mine.incident_id) is not None)
    assert _still_the_same_page(browser), "Huddinge's new incident arrived live"
    assert _row(browser, elsewhere.incident_id) is None
    _screenshot(browser, "dashboard-partnership.png")

    browser.get(f"{stack.base_url}/incidents/{jarfalla.incident_id}")
    _until(browser, lambda d: "Not loaded" in d.find_element(By.ID, "live").text)
    assert ": 404" in browser.find_element(By.ID, "live").text
    assert not _cells(browser, "#tasks tbody tr"), "another partnership's incident: no tasks"


def _log_in(browser: WebDriver, stack: Stack, role: str = "supervisor") -> None:
    """With the keyboard only: the token field has the focus; type, then Enter."""
    token = browser.switch_to.active_element
    assert token.get_attribute("id") == "token", "the login page focuses the token field"
    token.clear()
    token.send_keys(stack.tokens[role] + Keys.ENTER)
    _until(browser, lambda d: d.current_url.rstrip("/") == stack.base_url)
    assert browser.get_cookie("gvi_session")["httpOnly"] is True
