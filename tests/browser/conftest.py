"""The console in a real browser: Debian's Chromium driven by Playwright for Python.

One `broadcaster serve` per test worker (a child process, stopped on every path) on a
SQLite file seeded with a small town: the four departments of `tests.conftest.STAFF`, a
staff account in each, 600 residents across districts, zones, languages and interests, and
a LINE sandbox in its own process. Tests sign in through the sign-in page, as the role that
does the job, and keep screenshots under `artifacts/screenshots/` (CI's artefacts folder);
a failed test leaves its pages and their addresses under `artifacts/failures/`.

The browser is never downloaded: it is /usr/bin/chromium (`apt install chromium`, which
`.ci/run` does when it is missing), or $BROADCASTER_CHROMIUM. Without it these tests skip,
saying so.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.departments import Role, create_department
from broadcaster.sandbox.testing import SandboxProcess, free_port
from segments.residents import ResidentInterest
from tests.conftest import STAFF, STAFF_PASSWORD, T0, _create_schema, make_settings
from tests.delivery.scenario import add_residents
from tests.serving import REPO, serve, stop

CHROMIUM = os.environ.get("BROADCASTER_CHROMIUM") or shutil.which("chromium") or ""
ARTIFACTS = Path(os.environ.get("BROADCASTER_ARTIFACTS", REPO / "artifacts")) / "screenshots"
DISTRICTS = ["中央", "北", "南", "東", "西", "山間"]
LANGUAGES = ["ja", "ja", "ja", "easy-ja", "en", "zh", "ko", "vi", "pt", "ja"]
INTERESTS = ["子育て", "防災", "健康・福祉", "イベント", "観光", "農林水産"]
RESIDENTS = 600

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is missing")
if not CHROMIUM:
    pytest.skip(
        "Debian's chromium is not installed (apt install chromium fonts-noto-cjk; "
        ".ci/run installs it), and BROADCASTER_CHROMIUM is not set",
        allow_module_level=True,
    )

pytestmark = pytest.mark.browser


@dataclass
class Town:
    """The running service and what it was seeded with."""

    url: str
    engine: Engine
    tokens: dict[str, str]  # department -> API token
    sandbox: SandboxProcess
    data_dir: Path


def _seed(engine: Engine) -> dict[str, str]:
    from broadcaster.staff import StaffAccount, hash_password

    tokens: dict[str, str] = {}
    roles = {
        "子育て支援課": Role.department,
        "環境課": Role.department,
        "危機管理課": Role.disaster_desk,
        "情報政策課": Role.admin,
    }
    with Session(engine) as session:
        departments = {}
        for name, role in roles.items():
            departments[name], tokens[name] = create_department(session, name, role, T0)
        password_hash = hash_password(STAFF_PASSWORD)
        for login, (person, department) in STAFF.items():
            session.add(
                StaffAccount(
                    department_id=departments[department].id,
                    login=login,
                    name=person,
                    password_hash=password_hash,
                    created_at=T0,
                )
            )
        session.commit()
    ids = add_residents(
        engine,
        RESIDENTS,
        district=lambda n: DISTRICTS[n % len(DISTRICTS)],
        garbage_zone=lambda n: "ABCD"[n % 4],
        language=lambda n: LANGUAGES[n % len(LANGUAGES)],
        birth_year=lambda n: 1940 + n % 70,
    )
    with engine.begin() as connection:
        connection.execute(
            sa.insert(ResidentInterest.__table__),  # type: ignore[attr-defined]
            [
                {"resident_id": rid, "interest": INTERESTS[i % len(INTERESTS)]}
                for i, rid in enumerate(ids)
            ],
        )
    return tokens


@pytest.fixture(scope="session")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    from broadcaster.db import make_engine

    root = tmp_path_factory.mktemp("town")
    settings = make_settings(root)
    engine = make_engine(settings.resolved_database_url)
    _create_schema(engine)
    tokens = _seed(engine)
    port = free_port()
    log = root / "serve.log"
    with SandboxProcess() as sandbox:
        process = serve(root, port, sandbox.url, log, BROADCASTER_SERVER_REPLICA_ID="browser")
        try:
            yield Town(f"http://127.0.0.1:{port}", engine, tokens, sandbox, root / "data")
        finally:
            stop(process)
            engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium for one test. Not for the session: while Playwright's sync API is started
    it keeps an asyncio loop running in this thread, and every later test of the same
    worker that runs a loop of its own (`asyncio.run`) would fail."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


SignIn = Callable[..., Any]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Keep each phase's report on the test, for `signed_in` to know the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _keep_failed_pages(contexts: list[Any], test: str) -> None:
    """A failed test's pages as they were, with their address: a failure on a loaded CI
    machine is read from these (artifacts/failures/), not reproduced."""
    folder = ARTIFACTS.parent / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", test)
    for c, context in enumerate(contexts):
        for p, page in enumerate(context.pages):
            stem = folder / f"{name}-{c}-{p}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True)
                stem.with_suffix(".txt").write_text(page.url + "\n", encoding="utf-8")
            except Exception as exc:  # a page gone with its crash still names the test
                stem.with_suffix(".txt").write_text(f"unavailable: {exc}\n", encoding="utf-8")


@pytest.fixture
def signed_in(
    town: Town, browser: Any, request: pytest.FixtureRequest
) -> Iterator[SignIn]:
    """`signed_in("kosodate", width=1280)`: a page signed in as that staff account."""
    contexts: list[Any] = []

    def open_as(login: str, width: int = 1280) -> Any:
        context = browser.new_context(
            base_url=town.url,
            viewport={"width": width, "height": 900},
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console")
        page.get_by_label("ログインID").fill(login)
        page.get_by_label("パスワード").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="サインイン").click()
        page.wait_for_url(re.compile(r"/console/(?!login)"))
        return page

    yield open_as
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _keep_failed_pages(contexts, request.node.name)
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Keep what the person saw, named after the job and the window's width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{page.viewport_size['width']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# In the browser: every visible control has a label, and every target is at least 44 px
# high (WCAG 2.5.5) except inline links in running text.
_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.innerText.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""
_SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, input:not([type=hidden]), select, nav a, a.button')]
  .filter(e => e.offsetParent !== null)
  .filter(e => { const r = e.getBoundingClientRect();
                 const box = (e.type === 'checkbox' || e.type === 'radio') && e.closest('label')
                   ? e.closest('label').getBoundingClientRect() : r;
                 return box.height < 43.5; })
  .map(e => e.outerHTML.slice(0, 120))"""
_BROKEN_WORDS = """(words) => [...document.querySelectorAll('h1, h2, th, nav a, .dept')]
  .filter(e => e.offsetParent !== null)
  .flatMap(e => words.filter(w => e.innerText.includes(w)).map(w => {
      const range = document.createRange(); const node = [...e.childNodes].find(
        n => n.nodeType === 3 && n.textContent.includes(w));
      if (!node) return null;
      const at = node.textContent.indexOf(w);
      range.setStart(node, at); range.setEnd(node, at + w.length);
      return range.getClientRects().length > 1 ? w : null; }))
  .filter(Boolean)"""


def check_accessibility(page: Any, words: tuple[str, ...] = ()) -> None:
    """Labels on every control, touch-sized targets, and no listed word broken across lines."""
    assert page.evaluate(_UNLABELLED) == [], "controls without a label"
    assert page.evaluate(_SMALL_TARGETS) == [], "targets under 44 px"
    assert page.locator("a.skip").count() == 1, "no skip link"
    if words:
        assert page.evaluate(_BROKEN_WORDS, list(words)) == [], "words broken across lines"
