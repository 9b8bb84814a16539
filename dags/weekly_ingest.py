"""weekly_ingest — 每周一 12:00（上海时间）汇总上周各级报表。

Thin DAG: every task calls a function in ``pipelines``; nothing heavy is imported and no
connection is touched while the file is parsed.
"""
from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, Param, dag, task

# Emitted when a week has been published to the warehouse (consumed by monthly reports).
WEEKLY_LOAD = Asset("huizong-weekly-load", uri="huizong://warehouse/core/weekly_load")

DOC = """
### 周报汇总（weekly_ingest）

每周一 12:00（Asia/Shanghai，周一 10:00 报送截止之后）处理刚结束的 ISO 周：

1. **discover** 确定周次，从落地区读取该周全部文件，按 sha256 原样存档，登记到 `core.submissions`，
   并决定本次运行的路径：该周第一次运行，或需要解析的文件较多时走下面的全量路径（2–6）；
   该周已发布、只来了少量补报或更正件（需解析的文件不超过 `HUIZONG_QUICK_FILES`，默认 200）或只有豁免时，
   由一个任务 **apply_changes** 在同一进程中依次完成 2–6 的全部步骤（只处理变化的部分），全量路径的任务记为跳过；
2. **process_group** 按批并行解析、用 Great Expectations 校验，写入湖的暂存区：一个县（落地区的一级文件夹）
   为一组，文件过多的县按乡镇文件夹拆成几组，各组均衡地合成几批（每批至多 3000 个文件，`HUIZONG_TASK_FILES`）；
   自上次暂存以来没有变化的组直接复用，不再为它启动任务；只多了文件的组（补报、更正件）只解析、校验新到的文件，并入该组已有的暂存；坏文件不会影响其他文件；
3. **publish** 全市统一检查（区划名录、周次、更正件替代、跨县重复身份证号），
   将事实表、隔离行与问题清单写入湖并在一个事务内更新仓库中该周的数据；本周第一次发布写入全部数据，
   之后（补报、更正件、豁免）只重写结果可能变化的报送文件的行，结果与全部重写相同；
4. **consolidate** 自下而上汇总（三本账 → 村 → 乡镇 → 县 → 市），逐级核对（不含水分），
   统计报送率与及时率，并与近几周历史比对；
5. **review** 更新问题的审核状态（新发现/已解决），为每份报送文件生成回执（回执写入 outbox）；
6. **weekly_summary** 刷新 BI 数据集市（`mart.weekly_summary` 周汇总等），并发出 weekly-load 资产事件，
   月度任务 `monthly_conclusion` 据此在一个月的各周都入库后生成月总结。

与主线并行、不拖慢周汇总的任务：**data_docs** 在各组校验完成后生成 Great Expectations 校验报告
（Data Docs），与 publish 同时运行。

参数 `week`（如 `2026-W47`）可手工指定周次；留空则取逻辑日期前一天所在的周。
"""

# First scheduled run (catchup fills in every Monday since); local Shanghai time.
START = dt.datetime.fromisoformat(os.environ.get("HUIZONG_START_DATE", "2026-11-09T12:00")).replace(
    tzinfo=ZoneInfo(os.environ.get("HUIZONG_TZ", "Asia/Shanghai")))


@dag(
    dag_id="weekly_ingest",
    schedule="0 12 * * 1",
    start_date=START,
    catchup=True,
    max_active_runs=1,
    tags=["huizong", "weekly", "ingest"],
    doc_md=DOC,
    params={"week": Param("", type="string", description="ISO 周次，如 2026-W47；留空按逻辑日期推算")},
    # A task that hangs fails after HUIZONG_TASK_TIMEOUT_MINUTES (and is retried) instead of
    # holding the week (one run at a time) for ever.
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "owner": "huizong",
                  "execution_timeout": dt.timedelta(minutes=float(os.environ.get("HUIZONG_TASK_TIMEOUT_MINUTES", "120")))},
)
def weekly_ingest():
    @task
    def discover(**context) -> list[list[str]]:
        from pipelines.ingest.process import route_week
        from pipelines.ingest.schedule import week_for_run

        week = week_for_run(context["params"].get("week"), context.get("logical_date"),
                            context.get("data_interval_end"))
        route = route_week(week)
        context["ti"].xcom_push(key="week", value=week)
        context["ti"].xcom_push(key="quick", value=route["quick"] or [])  # None is not stored
        if route["quick"]:
            from airflow.sdk.exceptions import DownstreamTasksSkipped

            # The full path's tasks skipped now, all at once (not one level per scheduler loop).
            raise DownstreamTasksSkipped(tasks=sorted(context["task"].downstream_task_ids))
        return route["batches"]  # what process_group maps over

    @task(max_active_tis_per_dagrun=4)
    def process_group(group: list[str], week: str) -> dict:
        from pipelines.ingest.process import process_group as run

        return run(week, group)

    @task
    def publish(week: str, results: list[dict], **context) -> dict:
        from pipelines.ingest.process import group_results
        from pipelines.ingest.process import publish as run

        summary = run(week, run_id=context["run_id"])
        # Index, don't iterate: iterating a lazy XCom sequence probes one past the end.
        summary["groups"] = group_results([results[i] for i in range(len(results))], summary.pop("staged_groups"))
        return summary

    @task
    def consolidate(week: str, published: dict) -> dict:
        from pipelines.consolidate import consolidate as run

        return {**run(week), "month": published.get("month", "")}

    @task
    def data_docs(week: str, results: list[dict]) -> str:
        from pipelines.ingest.validate import build_data_docs

        return str(build_data_docs(week=week))

    @task
    def review(week: str, consolidated: dict, **context) -> dict:
        from pipelines.review.lifecycle import sync_lifecycle
        from pipelines.review.receipts import write_receipts

        # Receipts here, not in a task beside weekly_summary: the embedded warehouse admits
        # one process at a time, and the two took turns (measured slower than in a row).
        lifecycle = sync_lifecycle(week, run_id=context["run_id"])
        return {"lifecycle": lifecycle, "receipts": len(write_receipts(week)), "month": consolidated.get("month", "")}

    # Runs only when the full path was skipped: discover found a small change to a published
    # week. Its trigger waits on process_group alone (week and batches are pulled, not passed,
    # so that discover is not an upstream), so on the full path the scheduler skips it
    # without ever giving it a worker slot.
    @task(outlets=[WEEKLY_LOAD], trigger_rule="all_skipped")
    def apply_changes(**context) -> dict:
        ti = context["ti"]
        week, quick = ti.xcom_pull(task_ids="discover", key="week"), ti.xcom_pull(task_ids="discover", key="quick")
        if not quick:  # a week with no files at all: nothing to map, nothing to apply
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("该周没有需要处理的报送文件")
        from pipelines.incremental import apply_changes as run

        summary = run(week, quick, run_id=context["run_id"])
        context["outlet_events"][WEEKLY_LOAD].extra = {"week": week, "month": summary["month"]}
        return summary

    @task(outlets=[WEEKLY_LOAD])
    def weekly_summary(week: str, reviewed: dict, **context) -> dict:
        from pipelines.mart import refresh_weekly_mart

        summary = refresh_weekly_mart(week)
        context["outlet_events"][WEEKLY_LOAD].extra = {"week": week, "month": reviewed.get("month", "")}
        return summary

    groups = discover()
    week = groups["week"]
    done = process_group.partial(week=week).expand(group=groups)
    done >> apply_changes()  # a small change to a published week: one task instead of the rest
    data_docs(week, done)  # beside publish: nothing downstream reads the docs
    weekly_summary(week, review(week, consolidate(week, publish(week, done))))


weekly_ingest_dag = weekly_ingest()
