"""What a reader gives back (``Book`` of ``Sheet``s, ``Note``s), how it fails
(``ReadError``) and the bounds it reads within (``Limits``)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# Everything else a broken file makes a reader raise is caught, even BaseExceptions:
# a panic inside calamine (Rust) reaches Python as pyo3_runtime.PanicException, which
# derives from BaseException.
NOT_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


class ReadError(Exception):
    """A file that cannot be read; rule is the finding's rule code."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one file may make the reader hold (defaults = pipelines.settings)."""

    max_file_bytes: int = 50 * MB
    max_uncompressed_bytes: int = 100 * MB
    max_rows: int = 50_000
    max_cells: int = 5_000_000
    max_cell_chars: int = 32_767

    @classmethod
    def from_settings(cls, settings=None) -> "Limits":
        if settings is None:
            # get_settings() resolves paths and builds every setting (costly once per
            # file); the limits depend only on their own environment variables
            key = tuple(map(os.environ.get, _LIMIT_ENV))
            hit = _LIMITS_CACHE.get(key)
            if hit is not None:
                return hit
            from pipelines.settings import get_settings

            settings = get_settings()
            out = cls(settings.max_file_bytes, settings.max_uncompressed_bytes, settings.max_rows,
                      settings.max_cells, settings.max_cell_chars)
            if len(_LIMITS_CACHE) < 64:
                _LIMITS_CACHE[key] = out
            return out
        return cls(settings.max_file_bytes, settings.max_uncompressed_bytes, settings.max_rows,
                   settings.max_cells, settings.max_cell_chars)


# the environment variables pipelines.settings reads the limits from
_LIMIT_ENV = ("HUIZONG_MAX_FILE_BYTES", "HUIZONG_MAX_UNCOMPRESSED_BYTES", "HUIZONG_MAX_ROWS",
              "HUIZONG_MAX_CELLS", "HUIZONG_MAX_CELL_CHARS")
_LIMITS_CACHE: dict[tuple, "Limits"] = {}


@dataclass
class Note:
    """A problem the reader found that does not stop it (becomes a finding)."""

    rule: str
    message: str
    severity: str = "warning"
    sheet: str = ""
    row: int = 0
    value: str = ""


def size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} 字节"


@dataclass
class Sheet:
    name: str
    rows: list[list]                 # rows[i] is the user's row i + 1
    line_numbers: list[int] | None = None  # csv: the line each row starts on
    # merged ranges (first row, first column, last row, last column), 0-based and
    # inclusive like ``rows``; the value is in the first cell, the others read ''
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class Book:
    file_format: str                 # xlsx | xls | csv
    encoding: str = ""               # csv only
    delimiter: str = ""              # csv only: the cell separator found
    sheets: list[Sheet] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)
    notes: list[Note] = field(default_factory=list)


ENCRYPTED_MESSAGE = "文件设置了打开密码（已加密），无法读取，请取消密码后重新上传"
MACRO_MESSAGE = ("文件是启用宏的工作簿（含 VBA 宏代码）。系统不会运行宏，只读取单元格中保存的值；"
                 "请另存为不含宏的 .xlsx 文件后报送")

# Formulas that reach outside the workbook when Excel opens it: DDE (cmd|' /C calc'!A0),
# links and web calls. They are never evaluated here; the cell's saved value is read.
EXTERNAL_FORMULA_RE = re.compile(
    r"\||(?<![A-Z0-9_.])(HYPERLINK|WEBSERVICE|FILTERXML|CALL|REGISTER|REGISTER\.ID|RTD|EXEC|DDE|"
    r"IMPORTXML|IMPORTDATA|IMPORTRANGE|IMAGE)\s*\(", re.I)
MAX_FORMULA_NOTES = 20
