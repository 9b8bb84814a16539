"""Header keys (pipelines.ingest.headers.norm): bracketed qualifiers and units, traditional
characters; the money unit a header states (pipelines.ingest.units.money_unit)."""
from __future__ import annotations

import pytest

from pipelines import forms
from pipelines.ingest.data_rows import FOOTER_LABELS, TOTAL_WORDS
from pipelines.ingest.header_block import LABELS
from pipelines.ingest.headers import LOOKUPS, norm
from pipelines.ingest.traditional import TRADITIONAL, to_simplified
from pipelines.ingest.units import money_unit

# every word of the forms a clerk may write in traditional characters
VOCABULARY = [h for cols in forms.TABLES.values() for c in cols for h in (c.header, *c.synonyms)] \
    + list(forms.LEDGER_SHEETS.values()) + list(LABELS) + [forms.TOTAL_LABEL, *TOTAL_WORDS, *FOOTER_LABELS]
CHARS = sorted({ch for text in VOCABULARY for ch in text if "\u4e00" <= ch <= "\u9fff"})


def _big5(ch: str) -> bool:
    try:
        ch.encode("big5")
    except UnicodeEncodeError:
        return False
    return True


def test_every_simplified_only_character_of_the_forms_has_its_traditional_form():
    """A character of the vocabulary that Big5 (the traditional character set) cannot
    write is a simplified form: the map must give its traditional form."""
    simplified_only = [ch for ch in CHARS if not _big5(ch)]
    assert len(simplified_only) > 50
    assert [ch for ch in simplified_only if ch not in TRADITIONAL.values()] == []


def test_the_map_is_traditional_to_the_forms_own_simplified_characters():
    assert set(TRADITIONAL.values()) <= set(CHARS)
    assert [t for t in TRADITIONAL if not _big5(t)] == []
    assert all(s.encode("gb2312") for s in TRADITIONAL.values())
    # variants Big5 writes for characters it also has: 週 for 周, 製 for 制, 係/繫 for 系, 範 for 范
    assert to_simplified("填報週次 製表人 聯繫電話 聯係電話 示範基地") == "填报周次 制表人 联系电话 联系电话 示范基地"


@pytest.mark.parametrize("key", list(forms.TABLES))
def test_every_header_written_in_traditional_characters_matches_its_column(key):
    back = {}
    for trad, simp in TRADITIONAL.items():
        back.setdefault(simp, trad)
    for col in forms.TABLES[key]:
        for h in (col.header, *col.synonyms):
            trad = "".join(back.get(ch, ch) for ch in h)
            assert LOOKUPS[key][norm(trad)] == col.name, (h, trad)


@pytest.mark.parametrize("header,key,name", [
    ("联系电话(手机)", ("A", "helpers"), "helper_phone"),
    ("联系电话（手机）", ("A", "helpers"), "helper_phone"),
    ("聯繫電話（手機）", ("A", "helpers"), "helper_phone"),
    ("人均纯收入（元/年）", ("A", "plan"), "income_per_capita_yuan"),
    ("戶編號", ("A", "plan"), "household_id"),
    ("*户主姓名", ("A", "plan"), "head_name"),
    ("投入资金（元）", ("A", "measures"), "measure_funds_yuan"),
    ("投入资金（万元）", ("A", "measures"), "measure_funds_yuan"),
    ("期初贫困户数（户）", ("B", "report"), "hh_open"),
    ("期初貧困戶數", ("C", "report"), "hh_open"),
    ("本周技能培训人次（人次）", ("B", "report"), "training_persons"),
    ("本周到村扶贫资金（元）", ("B", "report"), "funds_to_village_wan"),
    ("本周发放扶贫小额信贷(元)", ("D", "report"), "microcredit_wan"),
    ("是否貧困村", ("C", "report"), "is_poor_village"),
    ("示范基地数（累计）", ("D", "report"), "demo_bases_cum"),
    ("本周到村扶贫资金/元", ("B", "report"), "funds_to_village_wan"),
    ("期初贫困户数／户", ("C", "report"), "hh_open"),
])
def test_header_variants_match_their_column(header, key, name):
    assert LOOKUPS[key][norm(header)] == name


def test_a_cell_that_is_only_a_bracketed_unit_keeps_it():
    assert norm("（户）") == "(户)" and norm("(万元)") == "(万元)"


@pytest.mark.parametrize("header,unit", [
    ("本周到村扶贫资金（元）", "元"), ("本周发放扶贫小额信贷(万元)", "万元"), ("人均纯收入（元/年）", "元"),
    ("投入资金（单位：万元）", "万元"), ("本周到村扶貧資金（萬元）", "万元"), ("投入资金", None),
    ("期初贫困户数（户）", None), ("本周到村扶贫资金/元", "元"), ("本周发放扶贫小额信贷／万元", "万元"),
])
def test_money_unit_of_a_header(header, unit):
    assert money_unit(header) == unit
