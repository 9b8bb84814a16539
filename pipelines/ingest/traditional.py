"""Traditional characters of the forms' own words, read as their simplified forms.

A clerk's template may be written in traditional characters (戶編號, 計劃進度賬,
填報週次). ``to_simplified`` maps, character for character (the length is kept, so a
position in the mapped text is one in the original), the traditional forms of the
characters that occur in pipelines.forms' headers, synonyms and sheet names and in the
header-block labels; other characters are left as written. tests/ingest/test_headers.py
checks that every character of that vocabulary is covered.
"""
from __future__ import annotations

# traditional (and common variant) -> simplified
TRADITIONAL = {
    "萬": "万", "專": "专", "義": "义", "鄉": "乡", "書": "书", "內": "内", "況": "况",
    "劃": "划", "別": "别", "製": "制", "辦": "办", "務": "务", "動": "动", "區": "区",
    "醫": "医", "單": "单", "發": "发", "變": "变", "號": "号", "喫": "吃", "員": "员",
    "週": "周", "實": "实", "審": "审", "對": "对", "導": "导", "層": "层", "屬": "属",
    "帶": "带", "幫": "帮", "當": "当", "態": "态", "戶": "户",
    "報": "报", "數": "数", "時": "时", "機": "机", "狀": "状", "電": "电", "療": "疗",
    "碼": "码", "稱": "称", "類": "类", "係": "系", "繫": "系", "級": "级", "純": "纯",
    "結": "结", "編": "编", "職": "职", "聯": "联", "脫": "脱", "範": "范", "計": "计",
    "訓": "训", "記": "记", "訪": "访", "證": "证", "識": "识", "話": "话", "財": "财",
    "責": "责", "賬": "账", "帳": "账", "貧": "贫", "貸": "贷", "資": "资", "進": "进",
    "銷": "销", "鎮": "镇",
    "總": "总", "縣": "县", "註": "注", "說": "说", "負": "负", "備": "备", "領": "领", "間": "间", "隊": "队", "額": "额", "駐": "驻",
}
_TABLE = str.maketrans(TRADITIONAL)


def to_simplified(text: str) -> str:
    """``text`` with the forms' traditional characters in their simplified forms."""
    return text.translate(_TABLE)
