"""Parquet written the way the lake needs it: typed columns, and a week's table assembled
from parts written one group at a time (never the whole week in memory)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines import storage


def for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet-safe: object columns of python dates/mixed become typed or text."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            sample = out[c].dropna()
            if len(sample) and all(hasattr(v, "isoformat") for v in sample.head(50)):
                out[c] = pd.to_datetime(out[c], errors="coerce")
            else:
                out[c] = out[c].astype("string")
    return out


class LakeParts:
    """Facts and quarantine of a week, written one group at a time to local temporary
    Parquet parts, then published as one lake file per table and area (streamed, in
    the parts' order, under one schema)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.parts: dict[tuple[str, str], list[Path]] = {}

    def add(self, table: str, area: str, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = (table, area)
        path = self.tmp / f"{table.split('.', 1)[1]}-{area}-{len(self.parts.get(key, []))}.parquet"
        data = pa.Table.from_pandas(for_parquet(frame.drop(columns=["_error"], errors="ignore")),
                                    preserve_index=False)
        pq.write_table(data, path)
        self.parts.setdefault(key, []).append(path)

    def paths(self, table: str, area: str) -> list[Path]:
        return list(self.parts.get((table, area), []))

    def publish(self, lfs, path: str, table: str, area: str, drop: set[str] | None = None) -> None:
        """Write the lake file of ``table`` and ``area`` from the parts. With ``drop`` (an
        incremental publish), the file's present rows are kept, except those of the
        submissions in ``drop``, and the parts (those submissions' new rows) follow them;
        a file that would not change is not written."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        parts = self.parts.get((table, area), [])
        keep = None
        if drop is not None and lfs.exists(path):
            with lfs.open(path, "rb") as f:
                ids = pq.read_table(f, columns=["submission_id"]).column("submission_id")
            gone = pc.is_in(ids, value_set=pa.array(sorted(drop), pa.string()))
            n_gone = pc.sum(gone).as_py() or 0
            if not parts and not n_gone:
                return  # none of its rows change
            if not parts and n_gone == len(ids):
                lfs.rm(path)  # as a full publish: no rows, no file
                return
            keep = pa.array(sorted(drop), pa.string())
        elif drop is not None and not parts:
            return  # no file before, none after
        schemas = [pq.read_schema(p) for p in parts]
        if keep is not None:
            with lfs.open(path, "rb") as f:
                schemas.insert(0, pq.read_schema(f))
        if not schemas:
            if lfs.exists(path):
                lfs.rm(path)
            return
        if all(sc.equals(schemas[0], check_metadata=False) for sc in schemas):
            schema = schemas[0]  # the usual case; keeps pandas' dtypes for readers
        else:
            schema = pa.unify_schemas([sc.remove_metadata() for sc in schemas], promote_options="permissive")
        with storage.open_atomic(lfs, path) as out, pq.ParquetWriter(out, schema, compression="zstd") as w:
            if keep is not None:  # streamed by batches: the week's file is never held whole
                with lfs.open(path, "rb") as f:
                    for batch in pq.ParquetFile(f).iter_batches(batch_size=100_000):
                        t = pa.Table.from_batches([batch])
                        t = t.filter(pc.invert(pc.is_in(t.column("submission_id"), value_set=keep)))
                        if len(t):
                            w.write_table(_conform(t, schema))
            for p in parts:
                w.write_table(_conform(pq.read_table(p), schema))


def _conform(t, schema):
    """``t`` with exactly ``schema``'s columns and types (missing columns null)."""
    import pyarrow as pa

    if not t.schema.equals(schema, check_metadata=False):
        cols = [t.column(f.name).cast(f.type) if f.name in t.column_names
                else pa.nulls(len(t), f.type) for f in schema]
        t = pa.Table.from_arrays(cols, schema=schema)
    return t.replace_schema_metadata(schema.metadata)
