"""The steward's list answered by SQL: paging, sorting on every column, search, facets,
overview and bulk actions, on a synthetic week with every fault kind."""
from __future__ import annotations

import shutil

import pytest

from pipelines import labels
from pipelines.ingest import rules
from pipelines.review import lifecycle, listing, queries
from tests.conftest import warehouse_of

WEEK = "2026-W45"


@pytest.fixture(scope="module")
def wh(faulty_world):
    w = warehouse_of(faulty_world["home"])
    yield w
    w.dispose()


@pytest.fixture
def own_wh(faulty_world, tmp_path):
    """A copy of the faulty world's warehouse a test may change."""
    shutil.copy(faulty_world["home"] / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    w = warehouse_of(tmp_path)
    yield w
    w.dispose()


def test_pages_partition_the_list_the_python_list_folds(wh):
    expected = set(queries.findings(WEEK, wh, folded=True)["finding_id"])
    first, total = listing.page(listing.Query(WEEK, size=20), wh)
    second, total2 = listing.page(listing.Query(WEEK, size=20, page=2), wh)
    assert total == total2 == len(expected) > 20
    assert len(first) == 20 and len(second) == total - 20
    assert set(first["finding_id"]) | set(second["finding_id"]) == expected
    assert not set(first["finding_id"]) & set(second["finding_id"])
    assert set(listing.selected_ids(listing.Query(WEEK), wh)) == expected
    past, n = listing.page(listing.Query(WEEK, size=20, page=9), wh)
    assert past.empty and n == total
    # An unknown size falls back to 100 a page, an unknown sort to the default order.
    q = listing.Query(WEEK, size=7, sort="drop table")
    assert q.size == 100 and q.sort == ""


@pytest.mark.parametrize("key", sorted(listing.SORTS))
def test_every_column_sorts_both_ways(own_wh, key):
    wh = own_wh
    lifecycle.waive(listing.selected_ids(listing.Query(WEEK), wh)[0], reason="核实无误", by="王科长", wh=wh)
    col = {"county": "county_name", "township": "township_name", "unit": "unit_code"}.get(key, key)
    for desc in (False, True):
        df, _ = listing.page(listing.Query(WEEK, sort=key, desc=desc, size=500), wh)
        values = df[col].fillna("").tolist()
        assert values == sorted(values, reverse=desc), (key, desc)
        assert len(set(values)) > 1, key


def test_search_by_unit_code_name_and_message(wh):
    all_rows = listing.rows(listing.Query(WEEK), wh)
    named = all_rows[all_rows["unit_name"] != ""].iloc[0]
    for q in (named["unit_name"], named["unit_code"][:9], "科学计数法"):
        df = listing.rows(listing.Query(WEEK, q=q), wh)
        hit = (all_rows["unit_name"].str.contains(q, regex=False) | all_rows["unit_code"].fillna("").str.contains(q, regex=False)
               | all_rows["message"].str.contains(q, regex=False))
        assert len(df) == int(hit.sum()) >= 1 and set(df["finding_id"]) == set(all_rows.loc[hit, "finding_id"]), q
    assert listing.page(listing.Query(WEEK, q="没有这样的文字"), wh)[1] == 0


def test_rule_township_and_file_filters_with_facets_counted_under_the_others(wh):
    facets = listing.facets(listing.Query(WEEK), wh)
    total = listing.page(listing.Query(WEEK), wh)[1]
    for key in ("county", "severity", "status", "rule"):
        assert sum(n for _, _, n in facets[key]) == total, key
    rule, label, n = facets["rule"][0]
    assert label == labels.rule_name(rule) and label != rule
    df, count = listing.page(listing.Query(WEEK, {"rule": rule}), wh)
    assert count == n and set(df["rule"]) == {rule} and set(df["rule_label"]) == {label}
    # Under the rule filter the rule facet still lists every rule; the county facet counts that rule only.
    narrowed = listing.facets(listing.Query(WEEK, {"rule": rule}), wh)
    assert narrowed["rule"] == facets["rule"]
    assert sum(n for _, _, n in narrowed["county"]) == count
    town, town_name, tn = next(f for f in facets["township"] if f[0])
    df, count = listing.page(listing.Query(WEEK, {"township": town}), wh)
    assert count == tn and set(df["township"]) == {town} and set(df["township_name"]) == {town_name}
    assert all(c.startswith(town) for c in df["unit_code"])
    file, file_label, fn = next(f for f in facets["file"] if f[0])
    df, count = listing.page(listing.Query(WEEK, {"file": file}), wh)
    assert count == fn and set(df["file"]) == {file} and "/" not in file_label


def test_overview_counts_each_county_and_the_city(wh):
    ov = listing.overview(WEEK, wh)
    counties, city = ov.iloc[:-1], ov.iloc[-1]
    assert city["county_name"] == "全市合计" and city["total"] == listing.page(listing.Query(WEEK), wh)[1]
    assert (counties["errors"] + counties["warnings"] == counties["total"]).all()
    assert city[["errors", "open"]].tolist() == counties[["errors", "open"]].sum().tolist()
    one = counties.iloc[0]
    assert listing.page(listing.Query(WEEK, {"county": one["county"], "severity": "error"}), wh)[1] == one["errors"]


def test_every_rule_has_a_chinese_name(wh):
    codes = {r.code for rs in rules.suite_rules().values() for r in rs}
    codes |= set(wh.query("SELECT DISTINCT rule FROM core.findings")["rule"])
    assert not {c for c in codes if c not in labels.RULE_NAMES}


def test_bulk_waive_send_back_and_undo_are_audited_and_carried_to_echoes(own_wh):
    wh = own_wh
    q = listing.Query(WEEK, {"severity": "error"})
    ids = listing.selected_ids(q, wh)
    echo_of = wh.query("SELECT finding_id, cause_id FROM core.findings WHERE week = :w AND cause_id <> finding_id",
                       {"w": WEEK})
    echoes = set(echo_of.loc[echo_of["cause_id"].isin(ids), "finding_id"])
    assert echoes, "the faulty world has echoes of errors"
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.act_many("waive", WEEK, ids, by="王科长", reason=" ", wh=wh)
    res = lifecycle.act_many("waive", WEEK, ids, by="王科长", reason="经核实同意入库", wh=wh)
    assert res["done"] == len(ids) and res["skipped"] == 0 and res["echoes"] == len(echoes)
    assert listing.page(listing.Query(WEEK, {"severity": "error", "status": "waived"}), wh)[1] == len(ids)
    assert lifecycle.waived_finding_ids(wh, WEEK) == set(ids) | echoes
    audit = wh.query("SELECT finding_id, action, \"by\", reason FROM core.finding_audit WHERE action = 'waive'")
    assert set(audit["finding_id"]) == set(ids) | echoes and set(audit["by"]) == {"王科长"}
    assert set(audit.loc[audit["finding_id"].isin(ids), "reason"]) == {"经核实同意入库"}
    # Again: nothing allows it any more.
    assert lifecycle.act_many("waive", WEEK, ids, by="王科长", reason="再次", wh=wh)["done"] == 0
    # Undo one waiver: it and its echoes are open again, audited.
    one = ids[0]
    res = lifecycle.unwaive(one, by="李审核", wh=wh)
    assert res["before"] == "waived" and res["status"] == "open"
    assert lifecycle.status_of(one, wh) == "open"
    assert [a for a in lifecycle.history(one, wh)["action"]] == ["open", "waive", "unwaive"]
    mine = set(echo_of.loc[echo_of["cause_id"] == one, "finding_id"])
    assert all(lifecycle.status_of(e, wh) == "open" for e in mine)
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.unwaive(one, by="李审核", wh=wh)
    res = lifecycle.act_many("send_back", WEEK, ids, by="李审核", wh=wh)
    assert res["done"] == len(ids) and listing.page(listing.Query(WEEK, {"status": "sent_back"}), wh)[1] == len(ids)


def test_bulk_action_adopts_findings_never_synced(own_wh):
    wh = own_wh
    ids = listing.selected_ids(listing.Query(WEEK, {"severity": "warning"}), wh)
    with wh.transaction() as conn:
        wh.delete_in(conn, "core.finding_status", "finding_id", ids)
    res = lifecycle.act_many("waive", WEEK, ids, by="王科长", reason="核实无误", wh=wh)
    assert res["done"] == len(ids) and res["skipped"] == 0
    assert list(lifecycle.history(ids[0], wh)["action"])[-2:] == ["open", "waive"]
