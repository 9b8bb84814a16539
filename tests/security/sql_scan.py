"""Find SQL text built with f-strings, % , .format or + in Python source (a static scan).

`sql_builds(root)` returns one `SqlBuild` per place where SQL text is combined with a
value at run time: the file, the enclosing function, the line, how (f-string, %, format,
+) and the names the interpolated expressions use. tests/security/test_sql_injection.py
checks each against a reviewed list.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|COPY|GRANT|REVOKE|FROM|WHERE|JOIN|VALUES|INTO|"
    r"TABLE|VIEW|SCHEMA|REFRESH|ATTACH|PRAGMA|EXECUTE|UNION|CASE WHEN|CAST)\b")


@dataclass(frozen=True)
class SqlBuild:
    path: str          # relative to the scanned root's parent, posix
    function: str      # Class.method / function ('' at module level)
    line: int
    how: str           # f-string | % | format | +
    names: frozenset   # names used by the interpolated expressions
    source: str


def _names(nodes) -> frozenset:
    out = set()
    for n in nodes:
        for sub in ast.walk(n):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                out.add(sub.attr)
    return frozenset(out)


def _const_text(node) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return ""


def sql_builds(root: Path) -> list[SqlBuild]:
    root = Path(root)
    found: list[SqlBuild] = []
    for path in sorted(root.rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
        parents = {ch: node for node in ast.walk(tree) for ch in ast.iter_child_nodes(node)}

        def where(n) -> str:
            names = []
            while n in parents:
                n = parents[n]
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.append(n.name)
            return ".".join(reversed(names))

        for node in ast.walk(tree):
            how, used = None, ()
            if isinstance(node, ast.JoinedStr) and not isinstance(parents.get(node), ast.FormattedValue):
                values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
                if values and SQL_WORDS.search(_const_text(node)):
                    how, used = "f-string", values
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and SQL_WORDS.search(_const_text(node.left)):
                how, used = "%", [node.right]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
                    and SQL_WORDS.search(_const_text(node.func.value)):
                how, used = "format", [*node.args, *[k.value for k in node.keywords]]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                sides = [node.left, node.right]
                if any(SQL_WORDS.search(_const_text(s)) for s in sides):
                    other = [s for s in sides if not (isinstance(s, ast.Constant) and isinstance(s.value, str))]
                    if other:
                        how, used = "+", other
            if how:
                found.append(SqlBuild(path.relative_to(root.parent).as_posix(), where(node), node.lineno, how,
                                      _names(used), (ast.get_source_segment(src, node) or "")[:200]))
    return found


if __name__ == "__main__":  # pragma: no cover
    import sys

    for b in sql_builds(Path(sys.argv[1] if len(sys.argv) > 1 else "pipelines")):
        print(f"{b.path}:{b.line} {b.function} {b.how} {sorted(b.names)}")
