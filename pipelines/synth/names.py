"""Name pools for the synthetic Zhoukou world: people, townships, villages, offices.

Real county codes and names come from DOMAIN.md; township names partly from the seed
and partly well-known Zhoukou townships; the rest is generated from plausible parts.
"""
from __future__ import annotations

import numpy as np

# (code, name, key county, township count at scale 1). Sum of townships = 190.
COUNTIES = (
    ("411602", "川汇区", False, 8),
    ("411621", "扶沟县", True, 16),
    ("411622", "西华县", True, 19),
    ("411623", "商水县", True, 23),
    ("411624", "沈丘县", True, 22),
    ("411625", "郸城县", True, 21),
    ("411626", "淮阳县", True, 20),
    ("411627", "太康县", True, 23),
    ("411628", "鹿邑县", True, 20),
    ("411681", "项城市", False, 18),
)
VILLAGES_AT_SCALE_1 = 4600
POOR_VILLAGES_AT_SCALE_1 = 630
POOR_HH_AT_SCALE_1 = 148_900
POOR_PP_AT_SCALE_1 = 496_100

# Townships the seed names (with a fixed 3-digit code where the examples give one) and
# villages it names. They are always placed first in their county.
SEED_TOWNSHIPS = {
    "411622": (("逍遥镇", 107),),
    "411626": (("白楼镇", None),),
    "411627": (("老家镇", None),),
    "411625": (("胡集乡", None),),
}
SEED_VILLAGES = {
    ("411622", "逍遥镇"): (("焦东村", 201), ("西营村", 202), ("后营村", 203), ("小集村", 204),
                         ("小庄村", 205), ("后楼村", 206), ("大营村", 207), ("小营村", 208)),
    ("411626", "白楼镇"): (("大部村", None),),
    ("411627", "老家镇"): (("刘寨村", None),),
}
# Further real township names (used before generated ones).
KNOWN_TOWNSHIPS = {
    "411602": ("李埠口乡", "华耀城乡", "搬口乡"),
    "411621": ("练寺镇", "大新镇", "包屯镇", "汴岗镇", "曹里乡", "柴岗乡", "固城乡", "白潭镇", "韭园镇", "江村镇", "崔桥镇", "吕潭乡"),
    "411622": ("红花集镇", "聂堆镇", "东夏亭镇", "西夏亭镇", "奉母镇", "址坊镇", "黄桥乡", "东王营乡", "大王庄乡",
               "李大庄乡", "叶埠口乡", "清河驿乡", "艾岗乡", "田口乡", "迟营乡", "皮营乡"),
    "411623": ("黄寨镇", "练集镇", "魏集镇", "固墙镇", "白寺镇", "巴村镇", "谭庄镇", "邓城镇", "胡吉镇", "城关乡",
               "平店乡", "袁老乡", "化河乡", "姚集乡", "舒庄乡", "大武乡", "张明乡", "郝岗乡", "张庄乡", "汤庄乡"),
    "411624": ("槐店回族镇", "刘庄店镇", "留福镇", "老城镇", "赵德营镇", "付井镇", "纸店镇", "新安集镇", "白集镇",
               "刘湾镇", "莲池镇", "卞路口乡", "北城办事处", "大邢庄乡", "李老庄乡", "北杨集乡", "石槽集乡",
               "范营乡", "周营乡", "冯营乡", "洪山乡"),
    "411625": ("吴台镇", "南丰镇", "白马镇", "宁平镇", "宜路镇", "钱店镇", "汲冢镇", "石槽镇", "城郊乡", "李楼乡",
               "巴集乡", "虎岗乡", "张完乡", "丁村乡", "双楼乡", "秋渠乡", "东风乡", "汲水乡", "古城乡"),
    "411626": ("城关回族镇", "新站镇", "鲁台镇", "四通镇", "临蔡镇", "安岭镇", "朱集乡", "豆门乡", "冯塘乡",
               "刘振屯乡", "王店乡", "大连乡", "葛店乡", "黄集乡", "齐老乡", "郑集乡", "曹河乡", "许湾乡"),
    "411627": ("常营镇", "逊母口镇", "朱口镇", "马头镇", "龙曲镇", "板桥镇", "符草楼镇", "转楼镇", "毛庄镇",
               "王集乡", "城郊乡", "张集乡", "清集乡", "杨庙乡", "五里口乡", "马厂镇", "高朗乡", "独塘乡",
               "大许寨乡", "芝麻洼乡", "高贤乡"),
    "411628": ("玄武镇", "宋河镇", "太清宫镇", "观堂镇", "贾滩镇", "杨湖口镇", "试量镇", "辛集镇", "马铺镇",
               "涡北镇", "唐集乡", "张店乡", "王皮溜乡", "穆店乡", "邱集乡", "生铁冢乡", "郑家集乡", "赵村乡"),
    "411681": ("秣陵镇", "南顿镇", "孙店镇", "李寨镇", "贾岭镇", "高寺镇", "新桥镇", "付集镇", "官会镇",
               "丁集镇", "郑郭镇", "王明口镇", "范集镇", "三店镇", "永丰镇", "高丘镇", "莲花镇"),
}
KNOWN_TOWNSHIPS = {k: tuple(n for n in v if n.endswith(("镇", "乡"))) for k, v in KNOWN_TOWNSHIPS.items()}

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
            "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹",
            "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛",
            "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪", "田", "任", "姜", "范", "方", "石", "姚",
            "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白", "崔", "康", "毛", "邱", "秦", "江", "史")
_GIVEN_1 = ("春", "海", "小", "玉", "金", "秀", "德", "国", "振", "书", "家", "爱", "桂", "建", "保", "明",
            "立", "文", "志", "红", "永", "长", "学", "俊", "新", "素", "凤", "富", "子", "庆")
_GIVEN_2 = ("生", "军", "红", "梅", "凤", "兰", "才", "强", "峰", "林", "修", "荣", "英", "全", "远", "新",
            "华", "平", "民", "勇", "霞", "芳", "亮", "杰", "顺", "田", "云", "喜", "山", "河")
GIVEN_NAMES = tuple(a + b for a in _GIVEN_1 for b in _GIVEN_2 if a != b) + ("伟", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳")

_TOWNSHIP_PREFIX = ("城郊", "黄庄", "大李", "王楼", "孙营", "高集", "双桥", "三里", "清水", "白庙", "新华", "永安",
                    "金湾", "安乐", "丰收", "卢集", "梁寨", "东岗", "西岗", "南丰", "北关", "马桥", "刘集", "胡楼",
                    "杨湖", "苏庄", "田湾", "冯营", "邓集", "汝阳", "槐树", "柳河", "长营", "石桥", "龙塘", "凤凰",
                    "朱楼", "贾寨", "汪庄", "郑营", "周店", "崔桥", "宋寨", "孔集", "谢庄", "范湖", "吕店", "魏营")
_VILLAGE_PREFIX = SURNAMES[:60] + ("东", "西", "南", "北", "前", "后", "大", "小", "新", "老", "上", "下", "中",
                                   "双", "三", "五", "七", "八", "杨柳", "槐树", "枣林", "桑园", "花园", "黄泥",
                                   "白土", "红土", "沙河", "清水", "高台", "古城")
_VILLAGE_SUFFIX = ("庄", "营", "楼", "寨", "集", "湾", "庙", "屯", "岗", "店", "桥", "口", "园", "坡", "堂", "洼",
                   "村", "台", "寺", "里")

OFFICES_COUNTY = ("教育局", "财政局", "农业局", "卫生局", "民政局", "交通运输局", "水利局", "人社局", "林业局", "住建局")
OFFICES_CITY = ("周口市农业局", "周口市财政局", "周口市教育局", "周口市扶贫办", "周口市卫计委", "周口市人社局")
OFFICES_PROVINCE = ("河南省财政厅", "河南省农业厅", "河南省教育厅", "河南省扶贫办", "河南省交通运输厅")
OFFICES_CENTRAL = ("国家开发银行河南分行", "中国农业发展银行", "国家林业局", "中国农业银行")

MEASURE_CONTENT = {
    "产业扶贫": ("食用菌大棚一座", "养羊10只", "种植艾草3亩", "发展养牛", "产业扶贫项目", "入股合作社"),
    "就业扶贫": ("转移就业", "公益岗位", "“巧媳妇”工程就业", "就业扶贫项目"),
    "金融扶贫": ("扶贫小额信贷5万元", "扶贫小额信贷3万元", "贴息贷款"),
    "教育扶贫": ("教育扶贫项目", "雨露计划补助", "学生资助"),
    "健康扶贫": ("健康扶贫项目", "大病救助", "家庭医生签约"),
    "易地扶贫搬迁": ("易地扶贫搬迁安置",),
    "技能培训": ("技能培训项目", "电商培训", "种植技术培训"),
    "危房改造": ("危房改造项目", "危房改造补助"),
    "兜底保障": ("纳入低保", "特困供养", "兜底保障"),
    "其他": ("光伏扶贫", "其他帮扶"),
}
PROGRESS_NOTES = ("", "", "", "申请小额信贷", "参加技能培训", "—", "已落实帮扶措施", "入户走访", "发展养殖", "务工增收")


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """n plausible Chinese names (surname + 1–2 character given name), object array."""
    s = np.asarray(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n)]
    g = np.asarray(GIVEN_NAMES, dtype=object)[rng.integers(0, len(GIVEN_NAMES), n)]
    return s + g


def township_names(rng: np.random.Generator, county: str, n: int) -> list[str]:
    """n distinct township names for a county: seed names, known names, then generated."""
    out: list[str] = [name for name, _ in SEED_TOWNSHIPS.get(county, ())]
    for name in KNOWN_TOWNSHIPS.get(county, ()):
        if name not in out:
            out.append(name)
    out = out[:max(n, len(SEED_TOWNSHIPS.get(county, ())))]
    pool = list(_TOWNSHIP_PREFIX)
    rng.shuffle(pool)
    i = 0
    while len(out) < n:
        base = pool[i % len(pool)] + ("" if i < len(pool) else str("东西南北"[(i // len(pool)) % 4]))
        name = base + ("镇" if rng.random() < 0.55 else "乡")
        i += 1
        if name not in out and name[:-1] + "镇" not in out and name[:-1] + "乡" not in out:
            out.append(name)
    return out[:n] if n >= len(SEED_TOWNSHIPS.get(county, ())) else out


def village_names(rng: np.random.Generator, n: int, fixed: tuple[str, ...] = ()) -> list[str]:
    """n distinct village names (…村), beginning with the fixed ones."""
    out = list(fixed)
    seen = set(out)
    while len(out) < n:
        p = _VILLAGE_PREFIX[rng.integers(0, len(_VILLAGE_PREFIX))]
        s = _VILLAGE_SUFFIX[rng.integers(0, len(_VILLAGE_SUFFIX))]
        name = p + s + "村" if s != "村" else p + "村"
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
    return out
