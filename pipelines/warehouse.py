"""The warehouse: DuckDB (embedded default) or PostgreSQL, through SQLAlchemy.

Loads are idempotent and atomic per week: the week's rows of every table are replaced
in one transaction, so a reader sees either the old week or the new one, never half.
Identifiers (table and column names) only ever come from this code; values are bound.
"""
from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "schema"
_PG_INTEGER = {"smallint", "integer", "bigint"}
_PG_NUMERIC_OID = 1700  # PostgreSQL's numeric (DECIMAL) type
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


@contextmanager
def _registered(conn: sa.Connection, values: list[str]) -> Iterator[str]:
    """``values`` as a one-column (``v``) table registered on a DuckDB connection, by the
    name yielded, for the life of the block (bound as Arrow, never written into SQL)."""
    import pyarrow as pa

    source = "_huizong_values"
    raw = conn.connection.driver_connection
    raw.register(source, pa.table({"v": pa.array([str(v) for v in values], pa.string())}))
    try:
        yield source
    finally:
        raw.unregister(source)


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return name


def _quote_col(name: str) -> str:
    _ident(name)
    return f'"{name}"'


# The embedded warehouse is written in the storage format of DuckDB 1.0, which every
# DuckDB client since 1.0 opens (the CLI from PyPI, DBeaver's JDBC driver, the Python and
# R packages): DuckDB 2 would otherwise write a format that no 1.x client can read. The
# setting applies when a file is created; a file keeps its format after.
DUCKDB_STORAGE_VERSION = "v1.0.0"


class Warehouse:
    def __init__(self, url: str, lock_wait: float | None = None):
        """``lock_wait``: seconds to wait for another process's hold on a DuckDB file
        (default HUIZONG_DUCKDB_LOCK_WAIT); PostgreSQL handles concurrency itself."""
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        if self.dialect == "duckdb":
            db = sa.engine.make_url(url).database
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        # NullPool: a DuckDB file is single-writer across processes; never keep it open.
        self.engine = sa.create_engine(url, poolclass=NullPool, connect_args=self._connect_args(url))
        if self.dialect == "duckdb":
            # DuckDB draws a progress bar on stdout for queries over 2 s: noise in task logs.
            # A session setting, so set on every new connection.
            sa.event.listen(self.engine, "connect",
                            lambda dbapi_conn, _rec: dbapi_conn.execute("SET enable_progress_bar = false"))
            if lock_wait is None:
                from pipelines.settings import duckdb_lock_wait

                lock_wait = duckdb_lock_wait()
            self.lock_wait = lock_wait
            sa.event.listen(self.engine, "do_connect", self._connect_waiting)

    def _connect_waiting(self, dialect, _rec, cargs, cparams):
        """Open the DuckDB file, waiting while another process holds it. A DuckDB file
        admits one process at a time (when any of them writes): a steward's action or a
        CLI command during a load, or two tasks touching the warehouse at once, take turns
        instead of failing."""
        deadline = time.monotonic() + self.lock_wait
        delay = 0.05
        while True:
            try:
                return dialect.connect(*cargs, **copy.deepcopy(cparams))  # connect pops keys
            except Exception as exc:  # noqa: BLE001 - duckdb.IOException, not imported here
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _connect_args(self, url: str) -> dict:
        """DuckDB's buffer pool is bounded (HUIZONG_DUCKDB_MEMORY_LIMIT, or memory_limit
        in the URL): by default it may take most of the machine's memory, and a week's
        load in one transaction would keep growing it with the size of the week. A new
        file is written in the storage format of DUCKDB_STORAGE_VERSION (see there)."""
        if self.dialect != "duckdb":
            return {}
        config = {"storage_compatibility_version": DUCKDB_STORAGE_VERSION}
        if "memory_limit" not in sa.engine.make_url(url).query:
            from pipelines.settings import duckdb_memory_limit

            config["memory_limit"] = duckdb_memory_limit()
        return {"config": config}

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep the embedded warehouse open for the block: every query and transaction
        still takes a connection of its own, but while one stays open DuckDB keeps the
        database in the process, and a new connection does not open and read the file
        again (which grows with the warehouse; a task that runs several steps makes dozens).
        Other processes wait for the block to end (see _connect_waiting). PostgreSQL: no-op."""
        if self.dialect != "duckdb":
            yield
            return
        with self.engine.connect():
            yield

    # ---- schema --------------------------------------------------------------------
    def apply_schema(self, schema_dir: Path = SCHEMA_DIR) -> tuple[str | None, str] | None:
        """Bring the warehouse to this release's schema (pipelines/migrations.py: the
        revisions after the warehouse's own, then the schema files, whose statements may all
        run again). Every task calls this first; nothing runs while the schema files and
        revisions are those last applied (their digest is kept in core.schema_applied,
        defined in 001_core.sql), which saves each task most of a tenth of a second.
        Returns the revision before and after, None when nothing had to run."""
        from pipelines import migrations

        scripts = [(path.name, path.read_text(encoding="utf-8")) for path in sorted(schema_dir.glob("*.sql"))
                   if schema_file_runs_on(path.name, self.dialect)]
        digest = hashlib.sha256("\0".join(f"{n}\0{t}" for n, t in [*scripts, *migrations.files_text()])
                                .encode("utf-8")).hexdigest()
        if self.schema_digest() == digest:
            return None
        with self.engine.begin() as conn:
            def create() -> None:
                for _name, text in scripts:
                    for stmt in split_sql(text):
                        conn.exec_driver_sql(stmt)

            revisions = migrations.migrate(conn, create)
            conn.execute(sa.text("DELETE FROM core.schema_applied"))
            conn.execute(sa.text("INSERT INTO core.schema_applied (digest, applied_at) VALUES (:d, CURRENT_TIMESTAMP)"),
                         {"d": digest})
        return revisions

    def rewrite_for_older_clients(self) -> bool:
        """An embedded warehouse that an earlier release wrote in DuckDB 2's own storage
        format is copied whole (tables, views, keys, comments) into a new file in
        DUCKDB_STORAGE_VERSION's format, which then takes its place; True if it was. Run by
        `huizong migrate` while nothing else has the warehouse open."""
        db = sa.engine.make_url(self.url).database
        if self.dialect != "duckdb" or not db or db == ":memory:" or not Path(db).exists():
            return False
        import duckdb

        wanted = f"{DUCKDB_STORAGE_VERSION}+"
        con = duckdb.connect(":memory:")
        try:
            con.execute("ATTACH ? AS old", [db])
            tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 'old'").fetchone()[0]
            if tags.get("storage_version") == wanted:
                return False
            new = f"{db}.rewrite"
            Path(new).unlink(missing_ok=True)
            con.execute(f"ATTACH ? AS new (STORAGE_VERSION '{DUCKDB_STORAGE_VERSION}')", [new])
            con.execute("COPY FROM DATABASE old TO new")
            con.execute("DETACH old")
            con.execute("DETACH new")
        finally:
            con.close()
        os.replace(new, db)
        return True

    def schema_digest(self) -> str | None:
        """The digest of the schema files last applied, None if never."""
        with self.engine.connect() as conn:
            if not conn.execute(sa.text("SELECT count(*) FROM information_schema.tables "
                                        "WHERE table_schema = 'core' AND table_name = 'schema_applied'")).scalar():
                return None
            return conn.execute(sa.text("SELECT max(digest) FROM core.schema_applied")).scalar()

    # ---- reads -----------------------------------------------------------------------
    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Rows as a DataFrame. DECIMAL columns (the mart's money and rates) arrive as
        float64, so pandas arithmetic works on them as on any other number."""
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), params or {})
            if self.dialect == "duckdb" and result.returns_rows:
                # DuckDB hands its result over as Arrow columns (≈7× faster than rows
                # of Python objects for a province's week; the same dtypes).
                import pyarrow as pa

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "makes an extra copy"
                    table = result.cursor.to_arrow_table()
                schema = pa.schema([f.with_type(pa.float64()) if pa.types.is_decimal(f.type) else f
                                    for f in table.schema])
                return table.cast(schema).to_pandas()
            numeric = [d[0] for d in result.cursor.description or [] if d[1] == _PG_NUMERIC_OID] \
                if self.dialect == "postgresql" and result.returns_rows else []
            df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        return df.astype({c: "float64" for c in numeric}) if numeric else df

    def scalar(self, sql: str, params: dict | None = None):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).scalar()

    def columns(self, table: str) -> list[str]:
        return list(self.column_types(table))

    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> lower-case SQL data type, in table order."""
        schema, name = _ident(table).split(".")
        df = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position",
            {"s": schema, "t": name},
        )
        return dict(zip(df["column_name"], df["data_type"].str.lower()))

    # ---- writes ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def replace(self, conn: sa.Connection, table: str, df: pd.DataFrame,
                where: dict[str, object] | None = None) -> int:
        """Delete the rows matching `where` (all rows if None) and insert `df`."""
        table = _ident(table)
        if where:
            cond = " AND ".join(f"{_quote_col(k)} = :{k}" for k in where)
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {cond}"), where)
        else:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        return self.insert(conn, table, df)

    def insert(self, conn: sa.Connection, table: str, df: pd.DataFrame) -> int:
        if df is None or df.empty:
            return 0
        cols = [c for c in self.columns(table) if c in df.columns]
        df = df[cols]
        col_sql = ", ".join(_quote_col(c) for c in cols)
        raw = conn.connection.driver_connection
        if self.dialect == "duckdb":
            import pyarrow as pa

            view = "_huizong_insert"
            raw.register(view, pa.Table.from_pandas(df, preserve_index=False))
            try:
                raw.execute(f"INSERT INTO {_ident(table)} ({col_sql}) SELECT {col_sql} FROM {view}")
            finally:
                raw.unregister(view)
        elif self.dialect == "postgresql":
            self._copy_pg(raw, table, table, cols, df)
        else:
            conn.execute(sa.text(f"INSERT INTO {table} ({col_sql}) VALUES ({', '.join(':' + c for c in cols)})"),
                         df.astype(object).where(df.notna(), None).to_dict("records"))
        return len(df)

    def _copy_pg(self, raw, target: str, table: str, cols: list[str], df: pd.DataFrame) -> None:
        """COPY ``df[cols]`` into ``target`` (``table`` or a temporary copy of its columns)."""
        # COPY parses text: integers held as floats (NaN made them float) must not
        # arrive as "3.0" in an integer column.
        types = self.column_types(table)
        df = df[cols].copy()
        for c in cols:
            if types[c] in _PG_INTEGER and pd.api.types.is_float_dtype(df[c]):
                df[c] = df[c].round().astype("Int64")
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=False, na_rep="\\N")
        col_sql = ", ".join(_quote_col(c) for c in cols)
        with raw.cursor() as cur:
            with cur.copy(f"COPY {target} ({col_sql}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
                cp.write(buf.getvalue())

    def present(self, table: str, column: str, values: list[str]) -> set[str]:
        """Those of ``values`` found in ``table``.``column`` (bound as delete_in binds them)."""
        if not values:
            return set()
        table, col = _ident(table), _quote_col(column)
        with self.engine.connect() as conn:
            if self.dialect == "duckdb":
                with _registered(conn, values) as source:
                    rows = conn.execute(sa.text(f"SELECT DISTINCT {col} FROM {table} WHERE {col} IN "
                                                f"(SELECT v FROM {source})")).fetchall()
            elif self.dialect == "postgresql":
                rows = conn.execute(sa.text(f"SELECT DISTINCT {col} FROM {table} WHERE {col} = ANY(:_values)"),
                                    {"_values": [str(v) for v in values]}).fetchall()
            else:
                raise ValueError(f"the warehouse runs on DuckDB or PostgreSQL, not {self.dialect}")
        return {str(r[0]) for r in rows}

    def delete_in(self, conn: sa.Connection, table: str, column: str, values: list[str],
                  where: dict[str, object] | None = None) -> None:
        """Delete the rows of ``table`` whose ``column`` is one of ``values`` (and ``where``);
        the values are bound (DuckDB: a registered Arrow table; PostgreSQL: an array)."""
        if not values:
            return
        table = _ident(table)
        cond = "".join(f" AND {_quote_col(k)} = :{k}" for k in (where or {}))
        if self.dialect == "duckdb":
            with _registered(conn, values) as source:
                conn.execute(sa.text(f"DELETE FROM {table} WHERE {_quote_col(column)} IN (SELECT v FROM {source}){cond}"),
                             where or {})
        elif self.dialect == "postgresql":
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {_quote_col(column)} = ANY(:_values){cond}"),
                         {**(where or {}), "_values": [str(v) for v in values]})
        else:
            raise ValueError(f"the warehouse runs on DuckDB or PostgreSQL, not {self.dialect}")

    def update(self, conn: sa.Connection, table: str, df: pd.DataFrame, key: str,
               where: dict[str, object] | None = None) -> None:
        """Set the other columns of ``df`` on the rows of ``table`` whose ``key`` matches
        (and ``where``), in one set-based UPDATE: the table's rows never pass through Python.
        Only rows with a value that differs are written: a week's re-publish restates every
        submission of the week, of which a handful changed, and DuckDB would rewrite every one."""
        if df is None or df.empty:
            return
        table = _ident(table)
        cols = [c for c in self.columns(table) if c in df.columns and c != key]
        setters = ", ".join(f"{_quote_col(c)} = v.{_quote_col(c)}" for c in cols)
        cond = "".join(f" AND {table}.{_quote_col(k)} = :{k}" for k in (where or {}))
        if cols:
            cond += " AND (" + " OR ".join(f"{table}.{_quote_col(c)} IS DISTINCT FROM v.{_quote_col(c)}"
                                           for c in cols) + ")"
        source = "_huizong_update"
        sql = sa.text(f"UPDATE {table} SET {setters} FROM {source} AS v "
                      f"WHERE {table}.{_quote_col(key)} = v.{_quote_col(key)}{cond}")
        raw = conn.connection.driver_connection
        if self.dialect == "duckdb":
            import pyarrow as pa

            raw.register(source, pa.Table.from_pandas(df[[key, *cols]], preserve_index=False))
            try:
                conn.execute(sql, where or {})
            finally:
                raw.unregister(source)
        elif self.dialect == "postgresql":
            col_sql = ", ".join(_quote_col(c) for c in [key, *cols])
            conn.execute(sa.text(f"CREATE TEMPORARY TABLE {source} AS SELECT {col_sql} FROM {table} WITH NO DATA"))
            try:
                self._copy_pg(raw, source, table, [key, *cols], df)
                conn.execute(sql, where or {})
            finally:
                conn.execute(sa.text(f"DROP TABLE {source}"))
        else:
            raise ValueError(f"the warehouse runs on DuckDB or PostgreSQL, not {self.dialect}")


def insert_parquet_duckdb(wh: "Warehouse", conn: sa.Connection, table: str, path: str) -> int:
    """DuckDB reads a local Parquet file itself: one INSERT ... SELECT, so its writer flushes
    full row groups to the database file instead of holding many small appends in memory
    until the transaction commits."""
    cols = wh.columns(table)
    raw = conn.connection.driver_connection
    have = {r[0] for r in raw.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()}
    cols = [c for c in cols if c in have]
    col_sql = ", ".join(_quote_col(c) for c in cols)
    raw.execute(f"INSERT INTO {_ident(table)} ({col_sql}) SELECT {col_sql} FROM read_parquet(?)", [path])
    # fetchall, not fetchone: DuckDB keeps a result open until it is read to the end, and
    # refuses other work on the connection (registering a view) meanwhile.
    return int(raw.execute("SELECT COUNT(*) FROM read_parquet(?)", [path]).fetchall()[0][0])


def schema_file_runs_on(name: str, dialect: str) -> bool:
    """Schema files run on every engine, except ``NNN_name.<dialect>.sql`` on that one alone."""
    parts = name.split(".")
    return len(parts) == 2 or parts[-2] == dialect


def split_sql(text: str) -> list[str]:
    """Split a schema file into statements (no semicolons inside our literals)."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
