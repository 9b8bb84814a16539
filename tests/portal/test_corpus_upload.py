"""The bad-input corpus (tests/corpus) through the upload path: every file gets a receipt
(none breaks the portal), the receipt has the rule the corpus expects (register and week
checks included: the pre-check makes them too) in Chinese, or the file is refused for its
size; what is accepted is written unchanged inside the week's folder, under a safe name
whatever the name it came with."""
from __future__ import annotations

import re

from tests.conftest import warehouse_of
from tests.corpus.make_corpus import corpus
from tests.portal.conftest import COUNTY, logged_in, upload

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_corpus_file_gets_a_receipt_with_the_expected_rule(client, issued, portal_home):
    from pipelines.settings import get_settings

    limit = get_settings().max_file_bytes
    logged_in(client, issued, COUNTY)
    items = corpus()
    wrong = []
    for it in items:
        r = upload(client, [], files=[(it.display, it.data)])
        assert r.status_code == 303, (it.display, r.text[-300:])
        page = client.get(r.headers["location"])
        assert page.status_code == 200, it.display
        if len(it.data) > limit:
            assert "文件大小超过上限" in page.text, it.display
    wh = warehouse_of(portal_home)
    ups = wh.query("SELECT upload_id, outcome, landing_path FROM portal.uploads ORDER BY uploaded_at")
    found = wh.query("SELECT upload_id, rule, message FROM portal.upload_findings")
    wh.dispose()
    assert len(ups) == len(items)
    assert all(CJK.search(m) for m in found["message"])
    rules = found.groupby("upload_id")["rule"].agg(set)
    week_dir = (portal_home / "landing" / "2026-W47").resolve()
    for it, up in zip(items, ups.itertuples()):  # one upload after another: in the corpus's order
        if up.outcome == "refused":
            assert len(it.data) > limit, it.display
            continue
        written = (portal_home / "landing" / up.landing_path).resolve()
        assert written.is_relative_to(week_dir / "西华县") and written.read_bytes() == it.data, it.display
        if it.category == "name":  # the portal names the file itself (uploads.safe_name): nothing to report
            assert not re.search(r"[\x00-\x1f/\\]", up.landing_path.split("/")[-1]) and len(
                up.landing_path.split("/")[-1].encode()) <= 150, up.landing_path
        elif it.expect and not set(it.expect) & rules.get(up.upload_id, set()):
            wrong.append((it.display, it.expect, sorted(rules.get(up.upload_id, set()))))
    assert not wrong, wrong
