"""The review workspace in a real browser: Debian's chromium, headless, driven by Playwright.

The workspace runs as ``dancu review serve`` would run it (a real process on
127.0.0.1, a real registry loaded from the first sample batch, users with
scrypt hashes, a session key file). Chromium logs in as a reviewer, filters
the queue, searches a name without its diacritics, opens a pair, decides it
with the keyboard, applies the decision and finds the PIN event that names
the decision and the reviewer; the registry is then read back.

``make test`` installs chromium first (``scripts/ensure-chromium.sh``);
where it cannot (not root, no package source) these tests are skipped with
that reason. Screenshots of the workspace and of the report are taken on
every run; ``DANCU_UPDATE_SCREENSHOTS=1`` (``make screenshots``) copies them
into ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dancu.workspace.users import Users
from domain.vntext import strip_diacritics
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "docs" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {"lan": "mật-khẩu-của-lan", "minh": "mật-khẩu-của-minh"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def workspace(
    one_batch_warehouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure-chromium.sh as root (make test does)")
    root = tmp_path_factory.mktemp("workspace")
    warehouse = root / "warehouse"
    shutil.copytree(one_batch_warehouse, warehouse, ignore=shutil.ignore_patterns("staging"))
    users = Users(root / "users")
    for name, password in PASSWORDS.items():
        users.set_password(name, password)
    port = _free_port()
    log = (root / "serve.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dancu")),
            "review",
            "serve",
            "--demo",
            "--warehouse",
            str(warehouse),
            "--users",
            str(root / "users"),
            "--secret-file",
            str(root / "session.key"),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("the workspace did not start:\n" + (root / "serve.log").read_text())
            time.sleep(0.5)
    try:
        yield {"url": url, "warehouse": warehouse, "shots": root / "shots"}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def _shot(page: object, shots: Path, name: str, *, full: bool = False) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / name), full_page=full)  # type: ignore[attr-defined]
    if os.environ.get("DANCU_UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shots / name, SHOTS / name)


def _registry(warehouse: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    with open_registry(warehouse) as con:
        return con.execute(sql, params or []).fetchall()


def test_a_reviewer_logs_in_filters_decides_applies_and_sees_the_pin_event(
    workspace: dict, browser: object, tmp_path: Path
) -> None:
    url, warehouse, shots = workspace["url"], workspace["warehouse"], workspace["shots"]
    context = browser.new_context(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()

    # Not logged in: the login page, in Vietnamese; a wrong password is refused.
    page.goto(f"{url}/")
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.fill("#username", "lan")
    page.fill("#password", "sai-mat-khau-roi")
    page.click("#login")
    assert "Sai tên đăng nhập hoặc mật khẩu." in page.locator(".error").inner_text()
    page.fill("#username", "lan")
    page.fill("#password", PASSWORDS["lan"])
    page.click("#login")
    assert page.locator("h1").inner_text() == "Hàng đợi rà soát"
    assert "lan" in page.locator("#user").inner_text()
    rows = page.locator("table.queue tr[data-href]")
    total = rows.count()
    assert total >= 2
    _shot(page, shots, "workspace-queue.png")

    # Search a name typed without diacritics; then filter by the pair's province.
    ((left, right, name, province),) = _registry(
        warehouse,
        """SELECT q.record_key_l, q.record_key_r, q.full_name_l, m.province_code_l
           FROM review_queue q JOIN match_link m USING (record_key_l, record_key_r)
           WHERE q.pin_l IS NOT NULL AND q.pin_r IS NOT NULL
             AND q.full_name_l <> strip_accents(q.full_name_l)
           ORDER BY q.match_weight DESC LIMIT 1""",
    )
    plain = strip_diacritics(name).lower()
    assert plain != name.lower()
    page.fill("#q", plain)
    page.click("#filter")
    found = page.locator("table.queue tr[data-href]")
    assert 1 <= found.count() < total or total == 1
    assert name in page.locator("#queue").inner_text()
    page.select_option("#province", province)
    page.click("#filter")
    assert page.locator("#province").input_value() == province
    link = page.locator(f'a.pair-link[href*="l={left.replace(":", "%3A")}"]')
    assert link.count() == 1

    # The pair: side by side with each field marked, the waterfall, both households.
    link.click()
    assert page.locator("table.side tr[data-field]").count() >= 8
    marks = set(
        page.locator("table.side tr[data-field]").evaluate_all("rs => rs.map(r => r.className)")
    )
    assert marks <= {"agree", "close", "differ", "missing"} and "agree" in marks
    assert page.locator("svg.waterfall rect").count() >= 8
    assert page.locator("text=Hộ gia đình").count() == 1
    _shot(page, shots, "workspace-pair.png", full=True)

    # Decide with the keyboard: a note, Escape, then "s" (same person).
    page.fill("#note", "cùng cha mẹ, cùng ngày sinh")
    page.press("#note", "Escape")
    page.keyboard.press("s")
    page.wait_for_load_state()
    assert "Đã lưu quyết định số 1." in page.locator("#message").inner_text()
    assert _registry(warehouse, "SELECT verdict, reviewer, note FROM review_decision") == [
        ("same", "lan", "cùng cha mẹ, cùng ngày sinh")
    ]

    # Apply now: the PIN event names the decision and the reviewer.
    page.click("#apply")
    assert page.url.endswith("/events")
    assert (
        "Đã áp dụng 1 quyết định; sự kiện số định danh: 1 gộp."
        in page.locator("#message").inner_text()
    )
    merged = page.locator("#events tr.event-merged")
    assert merged.count() == 1
    text = merged.inner_text()
    assert "#1" in text and "lan" in text
    _shot(page, shots, "workspace-events.png")
    ((person_l,), (person_r,)) = _registry(
        warehouse,
        "SELECT person_id FROM source_record WHERE record_key IN (?, ?) ORDER BY record_key",
        [left, right],
    )
    assert person_l == person_r
    assert _registry(warehouse, "SELECT action, actor FROM review_action") == [("applied", "lan")]

    # English by the switch.
    page.goto(f"{url}/")
    page.click("#lang")
    assert page.locator("h1").inner_text() == "Review queue"
    context.close()


def test_a_post_without_the_csrf_token_is_refused(workspace: dict, browser: object) -> None:
    url = workspace["url"]
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("#username", "minh")
    page.fill("#password", PASSWORDS["minh"])
    page.click("#login")
    response = page.request.post(f"{url}/apply", form={"csrf": "forged"})
    assert response.status == 403
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    context.close()


def test_the_report_opens_offline_in_vietnamese(workspace: dict, browser: object) -> None:
    report = workspace["warehouse"] / "report.html"
    context = browser.new_context(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    assert page.locator("h1").inner_text() == "Báo cáo chất lượng sổ đăng ký dân cư"
    assert page.locator("svg.waterfall").count() >= 1
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    _shot(page, workspace["shots"], "report.png")
    page.locator("h2", has_text="Hàng đợi rà soát").scroll_into_view_if_needed()
    _shot(page, workspace["shots"], "report-queue.png")
    context.close()
