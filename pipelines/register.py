"""The unit register (区划名录.csv): who is expected to report."""
from __future__ import annotations

import io

import pandas as pd

REGISTER_FILE = "区划名录.csv"
REGISTER_HEADERS = {
    "代码": "code",
    "名称": "name",
    "层级": "level",
    "上级代码": "parent_code",
    "是否贫困村": "is_poor_village",
    "是否重点县": "is_key_county",
}


def read_register(data: bytes | str) -> pd.DataFrame:
    """Parse the register CSV (UTF-8, BOM tolerated) into typed columns.

    Returns columns code, name, level (县/乡镇/村), parent_code, is_poor_village (bool),
    is_key_county (bool), county_code, township_code.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    df = pd.read_csv(io.StringIO(data), dtype=str, keep_default_na=False)
    df = df.rename(columns={k: v for k, v in REGISTER_HEADERS.items() if k in df.columns})
    for col in REGISTER_HEADERS.values():
        if col not in df.columns:
            df[col] = ""
    df = df[list(REGISTER_HEADERS.values())].apply(lambda s: s.str.strip())
    df["is_poor_village"] = df["is_poor_village"].eq("是")
    df["is_key_county"] = df["is_key_county"].eq("是")
    df["county_code"] = df["code"].str[:6]
    df["township_code"] = df["code"].where(df["code"].str.len() >= 9, "").str[:9]
    return df.reset_index(drop=True)


def write_register(df: pd.DataFrame) -> bytes:
    """Inverse of read_register: the CSV bytes the city office keeps (UTF-8)."""
    out = pd.DataFrame({
        "代码": df["code"],
        "名称": df["name"],
        "层级": df["level"],
        "上级代码": df["parent_code"].fillna(""),
        "是否贫困村": [("是" if p else "否") if lv == "村" else "" for p, lv in zip(df["is_poor_village"], df["level"])],
        "是否重点县": [("是" if k else "否") if lv == "县" else "" for k, lv in zip(df["is_key_county"], df["level"])],
    })
    return out.to_csv(index=False).encode("utf-8")
