"""Discover: work partition (batches of township folders) and the archive hash reuse."""
from __future__ import annotations

import hashlib
import os

import pandas as pd

from pipelines import storage
from pipelines.ingest import landing as disc
from pipelines.ingest.layout import run_manifest_path
from pipelines.ingest.plan import task_batches
from tests.week_run import planned_batches
from pipelines.settings import get_settings

WEEK = "2026-W47"


def _files(spec: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    county, unit = [], []
    for u, n in spec.items():
        c = u.split("/")[0]
        county += [c] * n
        unit += [u] * n
    return pd.Series(county), pd.Series(unit)


def test_small_counties_are_one_group_each():
    county, unit = _files({"西华县": 1, "西华县/逍遥镇": 5, "扶沟县/城关镇": 3, "_root": 1})
    groups = disc.batch_groups(county, unit, bound=10)
    assert groups.tolist() == county.tolist()


def test_a_big_county_is_split_into_bounded_batches_of_whole_townships():
    spec = {"西华县": 1, "西华县/东夏亭镇": 4, "西华县/大王庄乡": 4, "西华县/逍遥镇": 3, "西华县/黄桥乡": 12,
            "扶沟县/城关镇": 3}
    county, unit = _files(spec)
    groups = disc.batch_groups(county, unit, bound=9)
    by_unit = pd.DataFrame({"unit": unit, "group": groups}).drop_duplicates()
    assert by_unit["unit"].is_unique, "a township folder is never split"
    sizes = groups.value_counts()
    assert set(groups[county == "西华县"]) == {"西华县#1", "西华县#2", "西华县#3"}
    assert sizes["西华县#1"] == 9 and sizes["西华县#2"] == 3, "consecutive townships packed up to the bound"
    assert sizes["西华县#3"] == 12, "a township bigger than the bound stays whole, alone"
    assert set(groups[county == "扶沟县"]) == {"扶沟县"}
    assert disc.batch_groups(county, unit, bound=9).tolist() == groups.tolist(), "deterministic"


def test_discover_maps_batches_and_reuses_hashes_of_unchanged_files(examples_landing, monkeypatch):
    os.environ["HUIZONG_BATCH_FILES"] = "1"
    try:
        groups = planned_batches(WEEK)
    finally:
        del os.environ["HUIZONG_BATCH_FILES"]
    # one township folder (逍遥镇) with three files: one batch, it is never split
    assert groups == [["西华县#1"]]
    calls = []

    class Counting:  # discover's own hashlib (patching the module would count every caller's hashes)
        def __getattr__(self, name):
            return getattr(hashlib, name)

        def sha256(self, data=b"", *a, **k):
            calls.append(len(data))
            return hashlib.sha256(data, *a, **k)

    monkeypatch.setattr(disc, "hashlib", Counting())
    assert planned_batches(WEEK) == [["西华县"]]
    assert calls == [], "unchanged files are not read and hashed again"
    folder = examples_landing / WEEK / "西华县" / "逍遥镇"
    csv = folder / "逍遥镇2026年第47周扶贫周报.csv"
    stat = csv.stat()
    csv.write_bytes(csv.read_bytes().replace("第47周".encode("gbk"), "第46周".encode("gbk")))
    os.utime(csv, (stat.st_atime + 60, stat.st_mtime + 60))
    planned_batches(WEEK)
    assert len(calls) == 1, "the changed file is hashed again"
    lfs, lroot = storage.filesystem(get_settings().lake_url)
    files = storage.read_parquet(lfs, run_manifest_path(lroot, WEEK))
    assert files["submission_id"].nunique() == 3


def test_tasks_are_balanced_and_stay_within_the_bound():
    sizes = pd.Series({"商水县#1": 981, "商水县#2": 208, "太康县#1": 947, "太康县#2": 346, "川汇区": 419,
                       "扶沟县": 819})
    tasks = task_batches(sizes, 2000)
    assert tasks == [["商水县#1", "商水县#2", "太康县#2", "川汇区"], ["太康县#1", "扶沟县"]]
    assert [int(sizes[t].sum()) for t in tasks] == [1954, 1766]  # largest first, both within 2,000
    # The synthetic Zhoukou week: 13 groups, 9,413 files. Consecutive packing by name gave
    # tasks of 2,901, 2,886, 2,683 and 943 files: one slot idled while the other finished.
    zk = pd.Series({"商水县#1": 981, "商水县#2": 208, "太康县#1": 947, "太康县#2": 346, "川汇区": 419,
                    "扶沟县": 819, "沈丘县#1": 950, "沈丘县#2": 327, "淮阳县": 790, "西华县": 897,
                    "郸城县": 951, "项城市": 835, "鹿邑县": 943})
    loads = [int(zk[t].sum()) for t in task_batches(zk, 3000)]
    assert loads == sorted(loads, reverse=True) and len(loads) == 4 and max(loads) - min(loads) < 400, loads
    assert sorted(g for t in task_batches(zk, 3000) for g in t) == sorted(zk.index)
    assert task_batches(pd.Series({"a": 900, "b": 900, "c": 900}), 1000) == [["a"], ["b"], ["c"]]
    assert task_batches(pd.Series({"大县": 5000}), 2000) == [["大县"]], "a group is never split"
    assert task_batches(pd.Series(dtype="int64"), 2000) == []
