"""The data dictionary: README and database comments are generated from one source."""
from __future__ import annotations

import re

from pipelines.mart import dictionary as D
from pipelines.warehouse import SCHEMA_DIR, split_sql


def test_readme_and_comments_are_up_to_date():
    assert D.README.read_text(encoding="utf-8") == D.readme(), "run: python -m pipelines.mart.dictionary"
    assert D.COMMENTS_SQL.read_text(encoding="utf-8") == D.comments_sql(), "run: python -m pipelines.mart.dictionary"


def test_every_column_has_label_unit_and_meaning():
    for table, t in D.TABLES.items():
        assert t["label"] and t["about"], table
        names = [c[0] for c in t["columns"]]
        assert len(names) == len(set(names)), table
        for name, label, unit, meaning in t["columns"]:
            assert re.search(r"[\u4e00-\u9fff]", label), (table, name)
            assert unit and meaning, (table, name)
        assert f"`{table}`" in D.README.read_text(encoding="utf-8")


def test_schema_columns_match_the_dictionary_text():
    """Tables in 010_mart.sql declare exactly the dictionary's columns, in order."""
    sql = (SCHEMA_DIR / "010_mart.sql").read_text(encoding="utf-8")
    for stmt in split_sql(sql):
        m = re.match(r"CREATE TABLE IF NOT EXISTS (mart\.\w+) \((.*)\)$", stmt, re.S)
        if not m:
            continue
        cols = []
        for part in re.split(r",\s*(?![^()]*\))", re.sub(r"--[^\n]*", "", m.group(2))):
            words = part.split()
            if words and words[0] != "PRIMARY":  # the key is a constraint, not a column
                cols.append(words[0])
        assert cols == D.columns_of(m.group(1)), m.group(1)


def test_every_metric_code_and_direction_value_is_in_the_dictionary():
    from pipelines import labels

    readme = D.README.read_text(encoding="utf-8")
    for code, (name, unit) in labels.METRICS.items():
        assert f"| `{code}` | {name} | {unit} |" in readme, code
    for value, meaning in labels.DIRECTIONS.items():
        assert f"| {value} | {meaning} |" in readme, value
    assert {"training_sessions", "team_members", "base_driven_pp"} <= set(labels.METRICS)
    direction = next(c for c in D.TABLES["mart.discrepancies"]["columns"] if c[0] == "direction")
    assert all(v in direction[3] for v in labels.DIRECTIONS)


def test_comments_state_a_unit_once():
    sql = D.COMMENTS_SQL.read_text(encoding="utf-8")
    assert "差异绝对值合计（户）：" in sql
    doubled = re.findall(r"（([^（）]+)）（\1）", sql)
    assert not doubled, doubled
