"""Upper levels chase lower ones: a township sees which of its villages have uploaded
which forms for the week and whether the latest upload passed pre-check; a county sees
its townships and villages; a township sees no other township's villages, and a village
has no overview (403)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import EXAMPLES
from tests.portal.conftest import (
    COUNTY,
    LEDGER,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_REPORT,
    fixed_ledger,
    logged_in,
    upload,
)

OTHER_TOWNSHIP, ITS_VILLAGE = "411622108", "411622108201"


@pytest.fixture
def two_townships(portal_home):
    """The example register with a second township (黄土桥乡) and one village of it."""
    reg = portal_home / "landing" / "区划名录.csv"
    reg.write_text(reg.read_text(encoding="utf-8").rstrip("\n") + f"\n{OTHER_TOWNSHIP},黄土桥乡,乡镇,{COUNTY},,\n"
                   f"{ITS_VILLAGE},魏庄村,村,{OTHER_TOWNSHIP},是,\n", encoding="utf-8")


def _unit(page: str, code: str) -> str:
    """The overview's entry of one unit."""
    m = re.search(rf'<div class="item" id="u-{code}">(.*?)</div>\s*</div>', page, re.S)
    assert m, code
    return m.group(1)


def test_a_township_sees_its_villages_forms_and_the_latest_upload_of_each(two_townships, client, issued):
    logged_in(client, issued, VILLAGE)
    upload(client, [LEDGER])                         # an error
    upload(client, [VILLAGE_REPORT])                 # passes
    upload(client, [], files=[(LEDGER, fixed_ledger())])  # the correction: the latest counts
    client.cookies.clear()
    logged_in(client, issued, OTHER_VILLAGE)
    upload(client, [], files=[("西营村三本账.xlsx", (EXAMPLES / LEDGER).read_bytes())])  # 焦东村's: refused
    client.cookies.clear()
    logged_in(client, issued, TOWNSHIP)
    page = client.get("/overview?week=2026-W47")
    assert page.status_code == 200 and "2026-W47 下级单位报送情况" in page.text
    mine = _unit(page.text, VILLAGE)
    assert "焦东村" in mine and mine.count("预审通过") == 2 and "预审发现错误" not in mine and "未上传" not in mine
    other = _unit(page.text, OTHER_VILLAGE)
    assert other.count("未上传") == 2 and "预审" not in other  # a refused file does not count
    assert "应报 16 份，已上传 <b>2</b> 份，其中预审通过 <b>2</b> 份" in page.text
    assert "魏庄村" not in page.text and f'id="u-{ITS_VILLAGE}"' not in page.text
    assert client.get("/overview?week=2026-W46").text.count("未上传") == 16  # 8 villages, 2 forms each
    client.cookies.clear()
    logged_in(client, issued, OTHER_TOWNSHIP)
    theirs = client.get("/overview?week=2026-W47").text
    assert "魏庄村" in theirs and "焦东村" not in theirs and VILLAGE not in theirs and "已上传 <b>0</b> 份" in theirs


def test_a_county_sees_its_townships_and_their_villages(two_townships, client, issued):
    logged_in(client, issued, TOWNSHIP)
    upload(client, [LEDGER])
    client.cookies.clear()
    logged_in(client, issued, COUNTY)
    page = client.get("/overview?week=2026-W47").text
    township, village = _unit(page, TOWNSHIP), _unit(page, VILLAGE)
    assert "逍遥镇" in township and "乡镇周报（表C）" in township and "未上传" in township
    assert "三本账（表A）" in village and "预审发现错误" in village and "村级周报（表B）" in village
    assert "魏庄村" in page and "黄土桥乡" in page
    assert page.index("逍遥镇") < page.index("焦东村") < page.index("黄土桥乡") < page.index("魏庄村")


def test_a_village_has_no_overview(client, issued):
    logged_in(client, issued, VILLAGE)
    r = client.get("/overview")
    assert r.status_code == 403 and "村级账号没有下级单位的报送情况" in r.text
    assert "下级报送情况" not in client.get("/").text
