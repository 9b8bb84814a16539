"""The steward's list on PostgreSQL: the same SQL answers as on DuckDB, and bulk actions apply."""
from __future__ import annotations

import pytest

from pipelines.review import lifecycle, listing
from pipelines.warehouse import Warehouse
from tests.mart.helpers import copy_core, duckdb_copy, throwaway_postgres

WEEK = "2026-W45"


@pytest.fixture(scope="module")
def both(faulty_world, tmp_path_factory):
    duck = duckdb_copy(faulty_world["home"], tmp_path_factory.mktemp("list-pg"))
    with throwaway_postgres() as url:
        pg = Warehouse(url)
        copy_core(duck, pg)
        yield duck, pg
        pg.dispose()
    duck.dispose()


QUERIES = [listing.Query(WEEK, size=20, page=2), listing.Query(WEEK, {"severity": "error"}, q="村", sort="message"),
           listing.Query(WEEK, {"rule": "submission.missing"}, sort="county", desc=True)]


@pytest.mark.parametrize("query", QUERIES, ids=["page2", "search", "rule"])
def test_postgres_list_equals_duckdb_list(both, query):
    duck, pg = both
    assert pg.dialect == "postgresql"
    a, n = listing.page(query, duck)
    b, m = listing.page(query, pg)
    assert n == m >= 1 and a["finding_id"].tolist() == b["finding_id"].tolist()
    assert listing.facets(query, duck) == listing.facets(query, pg)
    ov_a, ov_b = listing.overview(WEEK, duck), listing.overview(WEEK, pg)
    assert ov_a.to_dict("records") == ov_b.to_dict("records")


def test_postgres_bulk_waive_and_undo(both):
    _, pg = both
    ids = listing.selected_ids(listing.Query(WEEK, {"severity": "warning"}), pg)
    res = lifecycle.act_many("waive", WEEK, ids, by="王科长", reason="核实无误", wh=pg)
    assert res["done"] == len(ids) >= 1
    assert listing.page(listing.Query(WEEK, {"status": "waived", "severity": "warning"}), pg)[1] == len(ids)
    assert lifecycle.act_many("unwaive", WEEK, ids, by="王科长", wh=pg)["done"] == len(ids)
    assert {lifecycle.status_of(i, pg) for i in ids} == {"open"}
