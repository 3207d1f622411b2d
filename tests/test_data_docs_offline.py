"""GX Data Docs open offline: no page asks for anything remote, and headless Chromium with the network off
renders every table without a single request leaving the machine (its net log is read back)."""

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from quality.data_docs import build_data_docs
from tests.test_report import _build

pytestmark = pytest.mark.usefixtures("lenient_specs")  # the report's store quarantines one record on purpose

REMOTE = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""",
                    re.I)


def _chromium() -> str:
    browser = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if browser is None:
        message = ("headless Chromium is not installed (neither /usr/bin/chromium nor `chromium` on PATH); "
                   "install it with `apt-get install -y chromium` to open the Data Docs")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true makes this test mandatory")
        pytest.skip(message)
    return browser


class Tables(HTMLParser):
    """The text of each table's body rows, and the tags a page loads things with."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.loaders: list[str] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed") or (tag == "link" and dict(attrs).get("rel") == "stylesheet"
                                                              and "//" in (dict(attrs).get("href") or "")):
            self.loaders.append(tag)
        if tag == "tbody":
            self._depth += 1
        elif tag == "tr" and self._depth:
            self.rows.append([])
        elif tag in ("td", "th") and self._depth and self.rows:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._depth -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _render(browser: str, page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM Chromium builds for `page` with no network, and the URLs the page asked it to fetch.

    The net log (--log-net-log) records every request the network stack starts; those a page starts carry
    the page's origin as initiator (`null` for a file), the browser's own (time, updates) "not an origin".
    A file the page loads from disk goes through no network stack and is not in it.
    """
    profile, netlog = tmp_path / f"profile-{page.stem}", tmp_path / f"netlog-{page.stem}.json"
    profile.mkdir()
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", f"--log-net-log={netlog}",
         # No network: every host name fails to resolve and any connection would go to a closed port.
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         "--window-size=1200,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    text = netlog.read_text(encoding="utf-8").rstrip().rstrip(",")
    log = json.loads(text if text.endswith("}") else text + "]}")  # a log cut short at exit lacks its end
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = sorted({e["params"]["url"] for e in log["events"] if e["type"] == start_job
                   and e.get("params", {}).get("initiator", "not an origin") != "not an origin"})
    return done.stdout, urls


def test_the_data_docs_open_offline_in_chromium(sqlite_url, tmp_path):
    store = _build(sqlite_url, tmp_path / "store")  # hrss and medins through the pipeline: dq_result rows
    home = tmp_path / "home"
    index = build_data_docs(store, home)
    site = index.parent

    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 4  # the index, two suites, the validation results
    for path in [*pages, *site.rglob("*.css")]:
        text = path.read_text(encoding="utf-8")
        assert not REMOTE.search(text), (path.relative_to(site), REMOTE.search(text)[0])
        assert "<script" not in text.lower(), path.relative_to(site)

    browser = _chromium()
    # The control: a page that does load remote things is caught doing so.
    control = tmp_path / "control.html"
    control.write_text('<link rel="stylesheet" href="https://cdn.example.com/x.css">'
                       '<img src="https://img.example.com/logo.png"><table><tr><td>x</td></tr></table>')
    assert _render(browser, control, tmp_path)[1] == ["https://cdn.example.com/x.css",
                                                      "https://img.example.com/logo.png"]

    dom, urls = _render(browser, index, tmp_path)
    assert urls == []  # the page asked for nothing on the network
    tables = Tables()
    tables.feed(dom)
    assert not tables.loaders
    runs = [row for row in tables.rows if any("hrss-" in cell or "medins-" in cell for cell in row)]
    assert {next(c for c in row if c.startswith(("hrss-", "medins-"))).split("-")[0] for row in runs} == \
        {"hrss", "medins"}  # the index lists the latest runs of both sources
    assert any("silobridge_cases" in cell for row in tables.rows for cell in row)

    validation = next(p for p in pages if "validations" in p.parts and p.name.startswith("hrss.cases"))
    dom, urls = _render(browser, validation, tmp_path)
    assert urls == []
    tables = Tables()
    tables.feed(dom)
    cells = " ".join(cell for row in tables.rows for cell in row)
    assert len(tables.rows) >= 20 and "case_no is part of the key" in cells and "status in code set case_status" in cells
    assert "Evaluated Expectations" in cells and "hrss-" in cells
    assert 'src="../../../../static/images/logo-long.png"' in validation.read_text(encoding="utf-8")
    assert (site / "static" / "images" / "logo-long.png").is_file()
