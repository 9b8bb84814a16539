"""Guards for .xls workbooks (BIFF in an OLE2 compound file), checked before calamine opens them:
a password to open (encrypted package or FILEPASS) is a ReadError, VBA macros a note, and
each sheet's used area is read from its cell records against the limits."""
from __future__ import annotations

import struct

from pipelines.ingest.readers.book import (
    ENCRYPTED_MESSAGE,
    MACRO_MESSAGE,
    Limits,
    Note,
    ReadError,
)

_ENCRYPTED_NAMES = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
_OLE_VBA = "_VBA_PROJECT".encode("utf-16-le")
def _is_encrypted_ole(data: bytes) -> bool:
    # An encrypted .xlsx is an OLE container holding EncryptionInfo/EncryptedPackage
    # (their names are in the directory, which may sit anywhere in the file).
    return any(n in data for n in _ENCRYPTED_NAMES)

_BIFF_CELLS = frozenset({0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x0201, 0x0006, 0x0406, 0x00D6})
_BIFF_MULTI = frozenset({0x00BD, 0x00BE})   # MULRK, MULBLANK: row, first col, ..., last col
_BIFF_BOF, _BIFF_FILEPASS = 0x0809, 0x002F


def _cfb_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """The first stream called one of `names` in an OLE2 compound file (MS-CFB), or None.
    Chains are followed at most as many steps as the file has sectors (no loops)."""
    if len(data) < 512:
        return None
    ssz = 1 << struct.unpack_from("<H", data, 30)[0]
    mssz = 1 << struct.unpack_from("<H", data, 32)[0]
    n_fat, first_dir = struct.unpack_from("<II", data, 44)[0], struct.unpack_from("<I", data, 48)[0]
    cutoff, first_mini, n_mini, first_difat, n_difat = struct.unpack_from("<IIIII", data, 56)
    if ssz not in (512, 4096):
        return None
    n_sectors = (len(data) - ssz) // ssz + 1

    def sector(i: int) -> bytes:
        off = (i + 1) * ssz
        return data[off:off + ssz]

    difat = list(struct.unpack_from("<109I", data, 76))
    nxt, steps = first_difat, 0
    while nxt < 0xFFFFFFFA and steps < n_difat and steps < n_sectors:
        sec = sector(nxt)
        k = ssz // 4 - 1
        difat += struct.unpack_from(f"<{k}I", sec)
        nxt = struct.unpack_from("<I", sec, k * 4)[0]
        steps += 1
    fat: list[int] = []
    for i in difat[:n_fat]:
        if i < 0xFFFFFFFA:
            sec = sector(i)
            fat += struct.unpack_from(f"<{len(sec) // 4}I", sec)

    def chain(start: int, table: list[int], limit: int) -> list[int]:
        out, i = [], start
        while 0 <= i < len(table) and len(out) <= limit:
            out.append(i)
            i = table[i]
        return out

    def read(start: int, size: int) -> bytes:
        return b"".join(sector(i) for i in chain(start, fat, n_sectors))[:size]

    dirs = read(first_dir, n_sectors * ssz)
    entries = [dirs[k:k + 128] for k in range(0, len(dirs) - 127, 128)]
    if not entries:
        return None
    root_start, root_size = struct.unpack_from("<IQ", entries[0], 116)
    for e in entries:
        nlen = struct.unpack_from("<H", e, 64)[0]
        name = e[:max(0, nlen - 2)].decode("utf-16-le", "replace")
        if e[66] == 2 and name in names:
            start, size = struct.unpack_from("<IQ", e, 116)
            size = min(size, len(data))
            if size >= cutoff:
                return read(start, size)
            mini_fat_bytes = read(first_mini, n_mini * ssz)
            minifat = list(struct.unpack_from(f"<{len(mini_fat_bytes) // 4}I", mini_fat_bytes))
            ministream = read(root_start, min(root_size, len(data)))
            return b"".join(ministream[i * mssz:(i + 1) * mssz]
                            for i in chain(start, minifat, len(minifat)))[:size]
    return None


def _inspect_biff(data: bytes, limits: Limits) -> None:
    """Walk the BIFF records of an .xls before calamine builds its dense cell range: the
    used area of each sheet from its cell records (a 6 KB file naming cell IV65536 would
    otherwise cost a gigabyte), and FILEPASS (a password to open)."""
    try:
        stream = _cfb_stream(data, ("Workbook", "Book"))
    except Exception:  # noqa: BLE001 - a broken container: calamine will say so
        return
    if not stream:
        return
    pos, n, sheet = 0, len(stream), -1
    max_row = max_col = 0

    def judge() -> None:
        if sheet > 0 and (max_row > limits.max_rows or max_row * max_col > limits.max_cells):
            what = (f"超过 {limits.max_rows} 行的上限" if max_row > limits.max_rows else
                    f"的使用区域为 {max_row} 行 × {max_col} 列，超过 {limits.max_cells} 个单元格的上限")
            raise ReadError("file.too_many_rows" if max_row > limits.max_rows else "file.too_many_cells",
                            f"第 {sheet} 个工作表{what}，未读取；请删除表格以外的内容后另存为 .xlsx 重新上传")

    while pos + 4 <= n:
        typ, length = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if typ == _BIFF_BOF:
            judge()
            sheet += 1
            max_row = max_col = 0
        elif typ == _BIFF_FILEPASS and sheet <= 0:
            raise ReadError("file.encrypted", ENCRYPTED_MESSAGE)
        elif typ in _BIFF_CELLS and length >= 4:
            r, c = struct.unpack_from("<HH", stream, body)
            max_row, max_col = max(max_row, r + 1), max(max_col, c + 1)
        elif typ in _BIFF_MULTI and length >= 6:
            r, = struct.unpack_from("<H", stream, body)
            last, = struct.unpack_from("<H", stream, body + length - 2)
            max_row, max_col = max(max_row, r + 1), max(max_col, last + 1)
        pos = body + length
    judge()


def inspect_xls(data: bytes, limits: Limits, notes: list[Note]) -> None:
    """Raise ReadError for an encrypted or oversized .xls; note its macros."""
    if _is_encrypted_ole(data):
        raise ReadError("file.encrypted", ENCRYPTED_MESSAGE)
    if _OLE_VBA in data:
        notes.append(Note("file.macro", MACRO_MESSAGE))
    _inspect_biff(data, limits)
