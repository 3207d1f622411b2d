"""Every relative link in README.md and docs/ resolves to a file inside the repository."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCED = re.compile(r"^```.*?^```", re.S | re.M)
SOURCES = ("hrss", "market", "medins", "police", "tax")


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def links(page: Path) -> list[str]:
    return LINK.findall(FENCED.sub("", page.read_text(encoding="utf-8")))  # code blocks hold no links


def test_every_relative_link_resolves_inside_the_repository():
    checked = 0
    for page in pages():
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # a URL or an anchor on the same page
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(REPO), f"{page.relative_to(REPO)}: {target} points outside the repository"
            assert path.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
            checked += 1
    assert checked >= 20  # README, the dictionary, querying.md and the five source pages link to each other


def test_the_readme_links_each_source_page_and_the_pages_exist():
    readme = links(REPO / "README.md")
    for source in SOURCES:
        assert f"docs/sources/{source}.md" in readme, source
        assert (REPO / "docs" / "sources" / f"{source}.md").is_file()
    assert "docs/querying.md" in readme and "docs/data-dictionary.md" in readme
    assert not [t for t in readme if "shared/contracts" in t]
