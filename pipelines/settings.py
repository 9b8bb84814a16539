"""One place for configuration: environment variables with embedded defaults.

Every setting is read when ``get_settings()`` is called (not at import), so tests and
tasks can point ``HUIZONG_HOME`` elsewhere.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_url: str
    lake_url: str
    archive_url: str
    warehouse_url: str
    outbox_dir: Path
    tz: str
    # Domain thresholds (docs/DOMAIN.md / docs/FORMS.md), never literals in code.
    poverty_line_yuan: float = 3000.0
    # The highest plausible yearly net income per person (元) in a ledger: a 人均纯收入
    # above it (99,999,999 typed for 9,999, or 万元 taken for 元 the other way) or below 0
    # is an error on the cell (rule income.range).
    income_max_yuan: float = 100_000.0
    microcredit_monthly_target_wan: float = 1000.0
    deadline_weekday: int = 0  # Monday
    deadline_hour: int = 10
    tolerance_count: int = 0
    tolerance_money_wan: float = 0.01
    # A corrected ledger that lacks more than this share of the households of the file it
    # replaces gets its own warning (docs/supersession.md).
    supersede_loss_share: float = 0.2
    household_size_min: int = 1
    household_size_max: int = 20
    max_file_bytes: int = 50 * 1024 * 1024
    # Bounds on what one submitted file may make the parser hold (pipelines.ingest.readers):
    # the total uncompressed size of an xlsx's zip members (declared in its central
    # directory, checked before anything is inflated), rows per sheet, the area
    # rows x columns of a sheet (cells held in memory), and characters per cell.
    max_uncompressed_bytes: int = 100 * 1024 * 1024
    max_rows: int = 50_000
    max_cells: int = 5_000_000
    max_cell_chars: int = 32_767
    # Work partition: a county folder is one mapped task unless it holds more files than
    # this; then it is split into batches of whole township folders (bounds task memory).
    batch_files: int = 1_000
    # Mapped tasks take groups up to this many files, balanced so the slots finish
    # together: Great Expectations' fixed cost is paid per task, memory grows with it.
    task_files: int = 3_000
    # A re-run of a published week that parses at most this many files (late or corrected
    # reports, waivers) is applied in one task instead of the mapped ones (pipelines.weekly).
    # Not part of what staging depends on (repr=False): it only picks the way a run goes.
    quick_files: int = field(default=200, repr=False)
    # HMAC key for ID and phone numbers; empty: a random key kept in $HUIZONG_HOME/.pii_key
    # (one per home: workers on several hosts must share one key, or their hashes won't join).
    pii_key: str | None = field(default=None, repr=False)
    s3_endpoint_url: str | None = None
    # The submission portal (pipelines.portal): the key its login cookies are signed with
    # (empty: a random key kept in $HUIZONG_HOME/.portal_secret; several portal processes
    # must share one), and the most files one upload may carry. Neither is part of what
    # staging depends on (repr=False).
    portal_secret: str | None = field(default=None, repr=False)
    portal_max_files: int = field(default=20, repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def gx_root(self) -> Path:
        """The GX file context kept in the repository (suites as JSON files)."""
        return Path(_env("HUIZONG_GX_ROOT", str(Path(__file__).resolve().parent.parent / "expectations")))

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"


def duckdb_memory_limit() -> str:
    """The embedded warehouse's memory bound (DuckDB spills to disk beyond it)."""
    return _env("HUIZONG_DUCKDB_MEMORY_LIMIT", "512MB")


def duckdb_lock_wait() -> float:
    """Seconds a process waits for another's hold on the embedded warehouse (DuckDB admits
    one writing process at a time) before it fails."""
    return float(_env("HUIZONG_DUCKDB_LOCK_WAIT", "300"))


def get_settings() -> Settings:
    home = Path(_env("HUIZONG_HOME", "./data")).resolve()
    landing = _env("HUIZONG_LANDING_URL", str(home / "landing"))
    lake = _env("HUIZONG_LAKE_URL", str(home / "lake"))
    archive = _env("HUIZONG_ARCHIVE_URL", str(home / "archive"))
    warehouse = _env("HUIZONG_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
    return Settings(
        home=home,
        landing_url=landing,
        lake_url=lake,
        archive_url=archive,
        warehouse_url=warehouse,
        outbox_dir=Path(_env("HUIZONG_OUTBOX", str(home / "outbox"))),
        tz=_env("HUIZONG_TZ", "Asia/Shanghai"),
        poverty_line_yuan=float(_env("HUIZONG_POVERTY_LINE_YUAN", "3000")),
        income_max_yuan=float(_env("HUIZONG_INCOME_MAX_YUAN", "100000")),
        microcredit_monthly_target_wan=float(_env("HUIZONG_MICROCREDIT_TARGET_WAN", "1000")),
        deadline_hour=int(_env("HUIZONG_DEADLINE_HOUR", "10")),
        tolerance_count=int(_env("HUIZONG_TOLERANCE_COUNT", "0")),
        tolerance_money_wan=float(_env("HUIZONG_TOLERANCE_MONEY_WAN", "0.01")),
        supersede_loss_share=float(_env("HUIZONG_SUPERSEDE_LOSS_SHARE", "0.2")),
        max_file_bytes=int(_env("HUIZONG_MAX_FILE_BYTES", str(50 * 1024 * 1024))),
        max_uncompressed_bytes=int(_env("HUIZONG_MAX_UNCOMPRESSED_BYTES", str(100 * 1024 * 1024))),
        max_rows=int(_env("HUIZONG_MAX_ROWS", "50000")),
        max_cells=int(_env("HUIZONG_MAX_CELLS", "5000000")),
        max_cell_chars=int(_env("HUIZONG_MAX_CELL_CHARS", "32767")),
        batch_files=int(_env("HUIZONG_BATCH_FILES", "1000")),
        task_files=int(_env("HUIZONG_TASK_FILES", "3000")),
        quick_files=int(_env("HUIZONG_QUICK_FILES", "200")),
        pii_key=os.environ.get("HUIZONG_PII_KEY") or None,
        s3_endpoint_url=os.environ.get("HUIZONG_S3_ENDPOINT_URL") or None,
        portal_secret=os.environ.get("HUIZONG_PORTAL_SECRET") or None,
        portal_max_files=int(_env("HUIZONG_PORTAL_MAX_FILES", "20")),
    )
