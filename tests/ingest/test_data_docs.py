"""GX Data Docs are built for each run, without personal data.

process_group stores every suite's validation result (scrubbed of submitted values) under
$HUIZONG_HOME/gx/validations with the week as run name; build_data_docs() renders them
into settings.data_docs_dir. No ID number, phone number or float-mangled ID may appear in
either place."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.ingest.validate import build_data_docs
from pipelines.settings import get_settings
from tests.conftest import REPO, run_pipeline_weeks
from tests.ingest.test_validate import households, run_a
from tests.security.test_personal_data import ID_RE, PHONE_RE, SCI_RE

WEEK = "2026-W47"
# 焦东村三本账2026第47周.xlsx: Excel turned this row's 身份证号码 into a float; the row is
# quarantined and the value must appear nowhere outside the raw archive.
MANGLED_ID = "4.116221985041398e+17"


def _git_status(path: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", str(path)],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout


def _personal_data(root: Path) -> list[str]:
    bad = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            text = p.read_text(encoding="utf-8", errors="replace")
            for rx in (ID_RE, PHONE_RE, SCI_RE):
                bad += [f"{p.relative_to(root)}: {m}" for m in rx.findall(text)[:3]]
    return bad


@pytest.fixture
def week_docs(examples_landing) -> dict:
    before = _git_status(REPO / "expectations")
    run_pipeline_weeks([WEEK], full=True)
    index = build_data_docs()
    s = get_settings()
    return {"index": index, "docs": s.data_docs_dir, "gx": s.home / "gx", "before": before}


def test_data_docs_index_links_the_weeks_validation_results(week_docs):
    index = week_docs["index"]
    assert index == week_docs["docs"] / "index.html" and index.is_file()
    html = index.read_text(encoding="utf-8")
    # the index table's rows link through their "_table_row_link_path"
    links = set(re.findall(r"_table_row_link_path['\"]:\s*['\"](validations/[^'\"]+\.html)", html))
    assert links, "index.html links no validation result"
    assert any(link.startswith(f"validations/form_a_plan/{WEEK}/") for link in links), links
    for link in links:
        assert f"/{WEEK}/" in link
        assert (week_docs["docs"] / link).is_file(), link


def test_form_a_plan_result_page_is_rendered(week_docs):
    pages = list((week_docs["docs"] / "validations" / "form_a_plan" / WEEK).rglob("*.html"))
    assert len(pages) == 1
    text = pages[0].read_text(encoding="utf-8")
    assert "form_a_plan" in text and WEEK in text
    stored = list((week_docs["gx"] / "validations" / "form_a_plan" / WEEK).rglob("*.json"))
    assert len(stored) == 1
    result = json.loads(stored[0].read_text(encoding="utf-8"))
    # every plan row was validated (the quarantined one too: its ID failed in the parser);
    # results keep counts and row numbers only
    assert result["results"] and all(r["result"]["element_count"] >= 1 for r in result["results"])
    for r in (er["result"] for er in result["results"]):
        assert not {"unexpected_list", "partial_unexpected_list", "partial_unexpected_counts",
                    "details", "observed_value"} & set(r)
        assert all(set(d) == {"_row"} for d in r.get("unexpected_index_list", []))


def test_no_personal_data_in_data_docs_or_results_store(week_docs):
    docs, gx = week_docs["docs"], week_docs["gx"]
    assert docs.is_relative_to(get_settings().home) and gx.is_relative_to(get_settings().home)
    assert _personal_data(docs) == []
    assert _personal_data(gx) == []
    every_text = "".join(p.read_text(encoding="utf-8", errors="replace")
                         for root in (docs, gx) for p in root.rglob("*") if p.is_file())
    assert "form_a_plan" in every_text  # the scan read the suite's pages and results
    assert MANGLED_ID not in every_text
    assert _git_status(REPO / "expectations") == week_docs["before"]


def test_stored_results_are_scrubbed_of_submitted_values(home):
    """The in-memory result carries the clear ID (findings need it); the stored one not."""
    clear_id = "41162219850413999X"
    plan = households(3)
    plan[1]["id_number"] = "4116221985O4139990"  # wrong shape: regex rule, value reported
    plan[2]["id_number"] = clear_id  # wrong check character
    res = run_a(plan, keep_results=True, run_id=WEEK)
    in_memory = json.dumps([r.to_json_dict() for r in res.gx_results], ensure_ascii=False)
    assert "4116221985O4139990" in in_memory  # not vacuous: GX did hand back the value
    stored = list((home / "gx" / "validations" / "form_a_plan" / WEEK).rglob("*.json"))
    assert len(stored) == 1
    text = stored[0].read_text(encoding="utf-8")
    assert "4116221985O4139990" not in text and clear_id not in text
    assert ID_RE.search(text) is None and not list((home / "data_docs").rglob("*.html"))
    index = build_data_docs()
    assert "form_a_plan" in index.read_text(encoding="utf-8")
    assert _personal_data(home / "data_docs") == []


def test_a_weekly_build_renders_only_that_weeks_results(week_docs):
    docs = week_docs["docs"]
    shutil.rmtree(docs)
    index = build_data_docs(week="2026-W46")  # a week with no results: index and suites only
    assert index.is_file() and not (docs / "validations").exists()
    assert list((docs / "expectations").rglob("form_a_plan.html"))
    build_data_docs(week=WEEK)
    pages = [p.relative_to(docs).as_posix() for p in (docs / "validations").rglob("*.html")]
    assert pages and all(f"/{WEEK}/" in p for p in pages)
    assert any(p.startswith("validations/form_a_plan/") for p in pages)


def test_a_rebuild_renders_only_results_not_rendered_yet(week_docs):
    """A resubmission re-validates one group: the week's other pages are not rendered again,
    and with no new result nothing is rendered at all."""
    docs = week_docs["docs"]
    shutil.rmtree(docs)
    build_data_docs(week=WEEK)

    def pages() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in (docs / "validations").rglob("*.html")}

    first, index_at = pages(), (docs / "index.html").stat().st_mtime_ns
    assert first
    build_data_docs(week=WEEK)
    assert pages() == first and (docs / "index.html").stat().st_mtime_ns == index_at

    run_a(households(2), keep_results=True, run_id=WEEK)  # form A's three suites once more
    build_data_docs(week=WEEK)
    now = pages()
    new = sorted(set(now) - set(first))
    assert len(new) == 3
    assert all(p.relative_to(docs).parts[1].startswith("form_a_") and p.parts[-3] == WEEK for p in new)
    assert {p: now[p] for p in first} == first
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert all(p.relative_to(docs).as_posix() in index for p in new)


# A resource a page would load: a script, a style sheet, an image, a frame, a CSS url() or
# @import; links (<a href>) a person may follow are not loaded and may stay.
RESOURCE_RE = re.compile(r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//"""
                         r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//"""
                         r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?\s*(?:https?:)?//""", re.I)


def test_data_docs_load_nothing_from_the_internet(week_docs):
    docs = week_docs["docs"]
    files = [*docs.rglob("*.html"), *docs.rglob("*.css")]
    assert len(files) > 3
    bad = [f"{p.relative_to(docs)}: {m}" for p in files
           for m in RESOURCE_RE.findall(p.read_text(encoding="utf-8"))]
    assert not bad, bad[:5]
    # What the pages used from CDNs is stood in for by the local shim; the GX logo is the
    # package's own copy, next to its styles and fonts.
    index = week_docs["index"].read_text(encoding="utf-8")
    assert '<script src="./static/scripts/offline.js"></script>' in index and "bootstrapTable(" in index
    assert "url('./static/images/logo-long.png')" in index
    assert (docs / "static" / "scripts" / "offline.js").is_file()
    assert (docs / "static" / "images" / "logo-long.png").is_file()
    assert (docs / "static" / "styles" / "data_docs_default_styles.css").is_file()
    page = next((docs / "validations" / "form_a_plan" / WEEK).rglob("*.html"))
    assert '<script src="../../../../static/scripts/offline.js"></script>' in page.read_text(encoding="utf-8")


def test_a_weekly_rebuild_keeps_the_pages_offline(week_docs):
    (week_docs["docs"] / ".rendered.json").unlink()  # GX renders the week's pages afresh
    build_data_docs(week=WEEK)
    for p in week_docs["docs"].rglob("*.html"):
        text = p.read_text(encoding="utf-8")
        assert not RESOURCE_RE.search(text) and text.count("offline.js") == 1, p
