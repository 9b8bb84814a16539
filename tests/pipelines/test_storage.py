"""pipelines.storage on the local file system: the os fast paths keep fsspec's contract."""
from __future__ import annotations

import pandas as pd
import pytest

from pipelines import storage


@pytest.fixture
def local(tmp_path):
    fs, root = storage.filesystem(str(tmp_path))
    return fs, root


def test_write_bytes_atomic_creates_folders_and_replaces_whole(local):
    fs, root = local
    path = storage.join(root, "a", "b", "f.bin")
    storage.write_bytes_atomic(fs, path, b"first")
    storage.write_bytes_atomic(fs, path, b"second")
    assert storage.read_bytes(fs, path) == b"second"
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(storage.join(root, "a"))) == ["f.bin"]  # no temp left


def test_a_failed_write_leaves_neither_file_nor_temp(local):
    fs, root = local
    path = storage.join(root, "x", "f.bin")
    with pytest.raises(TypeError):
        storage.write_bytes_atomic(fs, path, "not bytes")  # type: ignore[arg-type]
    assert not storage.exists(fs, path)
    assert fs.find(storage.join(root, "x")) == []


def test_read_bytes_honours_the_limit(local):
    fs, root = local
    path = storage.join(root, "f.bin")
    storage.write_bytes_atomic(fs, path, b"0123456789")
    assert storage.read_bytes(fs, path, 4) == b"0123"
    assert storage.read_bytes(fs, path) == b"0123456789"
    assert storage.exists(fs, path) and not storage.exists(fs, path + ".no")


def test_parquet_round_trip_with_columns_and_filters(local):
    fs, root = local
    path = storage.join(root, "t", "p.parquet")
    storage.write_parquet(fs, path, pd.DataFrame({"k": ["a", "b", "c"], "v": [1, 2, 3]}))
    got = storage.read_parquet(fs, path, columns=["v"], filters=[("k", "!=", "b")])
    assert got["v"].tolist() == [1, 3] and list(got.columns) == ["v"]


def test_find_files_lists_every_file_as_fsspec_does(local):
    import os

    fs, root = local
    for rel in ("a/x.csv", "a/b/.hidden", "a/b/c/y.xlsx", "z.txt"):
        storage.write_bytes_atomic(fs, f"{root}/{rel}", rel.encode())
    os.makedirs(f"{root}/a/empty")
    os.utime(f"{root}/a/x.csv", (1_700_000_000, 1_700_000_000))
    found = storage.find_files(fs, f"{root}/a")
    assert list(found) == sorted(fs.find(f"{root}/a")) == [f"{root}/a/b/.hidden", f"{root}/a/b/c/y.xlsx",
                                                            f"{root}/a/x.csv"]
    assert [i["size"] for i in found.values()] == [len("a/b/.hidden"), len("a/b/c/y.xlsx"), len("a/x.csv")]
    assert storage.mtime_of(found[f"{root}/a/x.csv"]).timestamp() == 1_700_000_000
    assert storage.find_files(fs, f"{root}/missing") == {}


def test_a_url_is_resolved_once_per_process(tmp_path):
    import os

    first = storage.filesystem(str(tmp_path))
    assert storage.filesystem(str(tmp_path)) is first and first[1] == str(tmp_path)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked task resolves the URL again instead of reusing its parent's client
        os.write(write, b"1" if storage.filesystem(str(tmp_path)) is not first else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
