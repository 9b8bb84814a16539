"""csv and tab-separated text: the encoding found (UTF-8 strictly first, UTF-16, then
GB18030 — reported as "gbk" when the text is plain GBK — then charset-normalizer), the
cell separator found (comma, tab, semicolon or bar: the most frequent in the first
records) and the records read row by row, stopped at the row and cell limits."""
from __future__ import annotations

import csv
import io
import re

from pipelines.ingest.readers.book import Book, Limits, ReadError, Sheet


def _utf16_without_bom(data: bytes) -> str:
    """'utf-16-le'/'utf-16-be' when text bytes look like UTF-16 without a BOM, else ''."""
    probe = data[:4096]
    if len(probe) < 4:
        return ""
    even, odd = probe[0::2], probe[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return ""


_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def _mixed_utf8(data: bytes, exc: UnicodeDecodeError, offset: int) -> None:
    """A file that is UTF-8 (Chinese text) up to a point and something else after it."""
    head = data[offset:exc.start].decode("utf-8", "replace")
    if len(_CJK_RE.findall(head)) >= 2:
        line = data[:exc.start].count(b"\n") + 1
        raise ReadError("file.mixed_encoding",
                        f"文件编码混杂：前面是 UTF-8 编码，从第 {line} 行起出现了不是 UTF-8 的字节"
                        f"（如 GBK 编码的汉字），无法正确读取；请用同一种编码（UTF-8）另存后重新上传")


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) for csv bytes: utf-8-sig strictly, then GBK/GB18030, then
    charset-normalizer. Raises ReadError when the bytes are not text, or are UTF-8 text
    that turns into another encoding part-way (file.mixed_encoding)."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            _mixed_utf8(data[3:], exc, 0)
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            _mixed_utf8(data, exc, 0)
    enc16 = _utf16_without_bom(data)
    if enc16:
        try:
            return data.decode(enc16), enc16
        except UnicodeDecodeError:
            pass
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        try:
            data.decode("gbk")
            return text, "gbk"
        except UnicodeDecodeError:
            return text, "gb18030"
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(data).best()
    except Exception:  # noqa: BLE001
        best = None
    if best is None:
        raise ReadError("file.unreadable", "文件既不是 Excel 表格也不是可识别编码的 CSV 文本，"
                        "请另存为 .xlsx 后重新上传")
    return str(best), str(best.encoding)


# What separates the cells of a record: comma, or what Excel and WPS write in locales or
# exports that do not use it (tab, semicolon, bar).
DELIMITERS = (",", "\t", ";", "|")


def delimiter(head: str) -> str:
    """The separator the text's first records use most (comma when none or on a tie)."""
    counts = [head.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))]


def read_text(data: bytes, limits: Limits) -> Book:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")) \
            and not _utf16_without_bom(data):
        raise ReadError("file.unreadable", "文件不是可识别的 Excel 表格或 CSV 文本，"
                        "请另存为 .xlsx 后重新上传")
    text, enc = decode_text(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ReadError("file.empty", "文件没有任何内容，请重新上传填好的报表")
    delim = delimiter(text[:4096])
    if csv.field_size_limit() < limits.max_file_bytes:
        # cells longer than the csv module's default (128 KB) are read, then cut
        csv.field_size_limit(limits.max_file_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list] = []
    lines: list[int] = []
    start = 1
    width = 0
    try:
        for rec in reader:
            rows.append(rec)
            lines.append(start)
            start = reader.line_num + 1
            if len(rec) > width:
                width = len(rec)
            if len(rows) > limits.max_rows:
                raise ReadError("file.too_many_rows", f"文件超过 {limits.max_rows} 行的上限，未读取；"
                                "一份报表不应有这么多行，请删除多余的行后重新上传")
            if len(rows) * width > limits.max_cells:
                raise ReadError("file.too_many_cells", f"文件的内容超过 {limits.max_cells} 个单元格的上限"
                                f"（{len(rows)} 行 × {width} 列），未读取；请删除多余的行和列后重新上传")
    except csv.Error as exc:
        raise ReadError("file.unreadable", f"CSV 文件格式有误（{exc}），请另存为 .xlsx 后重新上传") from exc
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        if len(r) < width:
            r.extend([""] * (width - len(r)))
    return Book(file_format="csv", encoding=enc, delimiter=delim, sheets=[Sheet("", rows, lines)])
