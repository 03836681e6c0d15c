"""The dashboard as a person uses it, in Debian's Chromium driven by Playwright, against a MODE=LOCAL server.

The page submits a generated repository and follows it to 100%, sees the history row, searches similar
files, draws a file's neighbourhood and requeues a dead job; /docs renders. The browser may reach nothing
but the server under test (every other request is refused and recorded). Screenshots are written to the
folder the test prints (`.artifacts/dashboard/`, or $NEO_ARTIFACTS_DIR).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.generated_repos import make_git_repo
from support.local_server import ROOT, LocalServer, local_server

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# A repository that cannot be cloned here (no network): with one attempt it dies at once.
UNREACHABLE = "github.com/neo-alexandria-test/unreachable"

SHOP = {
    "shop/__init__.py": "",
    "shop/models/__init__.py": "",
    "shop/models/cart.py": "from shop.models import item\nfrom shop.pricing import money\n",
    "shop/models/item.py": "from shop.pricing import money\n",
    "shop/pricing/__init__.py": "",
    "shop/pricing/money.py": "DECIMALS = 2\n",
    "shop/pricing/tax.py": "from shop.pricing import money\n",
    "shop/api/__init__.py": "",
    "shop/api/routes.py": "from shop.models import cart, item\nfrom shop.api import auth\n",
    "shop/api/auth.py": "from shop.pricing import money\n",
    "shop/cli.py": "from shop.api import routes\nfrom shop.models.cart import Cart\n",
    "web/index.ts": "import { cart } from './cart';\n",
    "web/cart.ts": "export const cart = 1;\n",
}


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NEO_ARTIFACTS_DIR", ROOT / ".artifacts" / "dashboard"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\nDashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("dashboard")
    with local_server(folder, MAX_ATTEMPTS="1", CLONE_TIMEOUT_SECONDS="10") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server: LocalServer) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_the_server(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert outside == [], f"the page asked for something other than the server: {outside}"
    assert errors == [], f"script errors on the page: {errors}"


def test_operate_the_system_from_the_page(page, server: LocalServer, artifacts: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    repo = make_git_repo(tmp_path / "shop", SHOP)
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Neo Alexandria")).to_be_visible()
    expect(page.locator("#overall-status")).to_have_text(re.compile(r"Status: (Idle|Cloning|Parsing)"))
    expect(page.locator(".card")).to_have_count(1)
    page.screenshot(path=artifacts / "01-start.png", full_page=True)

    page.get_by_label("Admin token").fill(server.token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-state")).to_have_text("Token in use for this tab.")

    page.get_by_label("Repository URL or path").fill(str(repo))
    page.get_by_role("button", name="Queue it").click()
    tracked = page.locator("#tracked li").first
    expect(tracked).to_contain_text(str(repo))
    expect(tracked.locator("progress")).to_have_attribute("value", "100", timeout=180_000)
    expect(tracked).to_contain_text("finished")
    row = page.locator("#history-table tbody tr", has_text=str(repo))
    expect(row).to_be_visible(timeout=20_000)
    expect(row).to_contain_text("finished")
    expect(page.locator("#repos-table tbody")).to_contain_text(str(repo))
    page.screenshot(path=artifacts / "02-ingested.png", full_page=True)

    page.locator("#similar-repo").select_option(str(repo))
    page.get_by_label("File", exact=True).fill("shop/pricing/money.py")
    page.get_by_role("button", name="Find similar files").click()
    expect(page.locator("#similar-summary")).to_contain_text("files most like shop/pricing/money.py")
    expect(page.locator("#similar-table tbody tr")).to_have_count(10)
    # The page shows the API's ranking, in its order, with the evidence of each hit in words.
    with server.client() as client:
        params = {"repo_url": str(repo), "path": "shop/pricing/money.py", "k": 10}
        ranked = client.get("/api/v1/search/similar", params=params).json()["results"]
    assert page.locator("#similar-table tbody td.repo").all_inner_texts() == [hit["path"] for hit in ranked]
    tax = page.locator("#similar-table tbody tr", has_text="shop/pricing/tax.py")
    expect(tax).to_contain_text("it imports the file")
    expect(tax).to_contain_text("same folder")
    expect(tax).not_to_contain_text("changed together")  # one commit added every file: no co-change
    page.locator("#similar-title").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "03-similar.png", full_page=True)

    page.locator("#graph-repo").select_option(str(repo))
    page.locator("#graph-focus").fill("shop/pricing/money.py")
    page.get_by_role("button", name="Show", exact=True).click()
    picture = page.locator("#graph-picture svg")
    expect(picture.locator("g.node")).not_to_have_count(0)
    expect(page.locator("#graph-summary")).to_contain_text("is imported by")
    page.locator("#graph-title").scroll_into_view_if_needed()
    page.locator("#graph-picture").screenshot(path=artifacts / "04-neighbourhood-collapsed.png")
    page.locator("#graph-collapse").select_option("")
    page.locator("#graph-depth").select_option("2")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(picture.locator("g.node.folder")).to_have_count(0)
    page.locator("#graph-picture").screenshot(path=artifacts / "04-neighbourhood-depth-2.png")
    picture.locator("g.node.file", has_text="cart.py").first.click()
    expect(page.locator("#graph-focus")).to_have_value(re.compile(r"cart\.py$"))
    expect(picture.locator("g.node rect[stroke-width='3']")).to_have_count(1)

    page.get_by_label("Repository URL or path").fill(UNREACHABLE)
    page.get_by_role("button", name="Queue it").click()
    dead = page.locator("#dead-table tbody tr", has_text=UNREACHABLE)
    expect(dead).to_be_visible(timeout=60_000)
    expect(dead).to_contain_text("could not be reached")
    page.locator("#dead-title").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "05-dead-letter.png", full_page=True)
    with server.client() as client:
        [dead_job] = client.get("/api/v1/ingestion/dead").json()["jobs"]
    dead.get_by_role("button", name=f"Requeue the job of {UNREACHABLE}").click()
    expect(page.locator("#message")).to_contain_text(f"Requeued {UNREACHABLE}")
    with server.client() as client:
        history = client.get("/api/v1/ingestion/jobs/history").json()["jobs"]
        job = client.get(f"/api/v1/ingestion/jobs/{dead_job['job_id']}").json()
    # The requeued job ran again (and died again: still no network), or is about to.
    deaths = [entry for entry in history if entry["job_id"] == dead_job["job_id"]]
    assert job["state"] in ("queued", "started", "dead") and len(deaths) >= 1
    expect(page.locator("#history-table tbody tr", has_text=UNREACHABLE)).to_have_count(2, timeout=60_000)
    page.screenshot(path=artifacts / "06-requeued.png", full_page=True)


def test_docs_render_offline(page, server: LocalServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Neo Alexandria", timeout=30_000)
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/ingestion/queue")).to_be_visible()
    page.screenshot(path=artifacts / "07-docs.png")
    page.goto(server.url + "/redoc")
    expect(page.locator("h1", has_text="Neo Alexandria")).to_be_visible(timeout=30_000)
    page.screenshot(path=artifacts / "08-redoc.png")
