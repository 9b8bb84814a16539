"""monthly_conclusion — 月总结：一个月的各周全部入库后，生成月度集市数据与月总结报告。

Thin DAG: every task calls a function in ``pipelines``; nothing heavy is imported and no
connection is touched while the file is parsed.
"""
from __future__ import annotations

from airflow.sdk import Param, dag, task

from pipelines.dag_defaults import DEFAULT_ARGS, START, WEEKLY_LOAD

DOC = """
### 月总结（monthly_conclusion）

每当 `weekly_ingest` 完成一周的入库与汇总（资产 `huizong-weekly-load` 更新）即被触发：

1. **plan_month** 确定月份：手工运行时取参数 `month`（如 `2026-11`）；由资产触发时取事件中的月份；
2. **check_month** 核对该月的各周（一周归属于包含其四天或以上的月份）是否都已入库（`core.loads`）并完成汇总；
   尚未齐全时本次运行跳过（skipped），等下一周入库后再判断；
3. **build_mart** 重建该月各周的 `mart.weekly_summary`、`mart.weekly_accuracy` 与 `mart.monthly_conclusion`；
4. **write_reports** 生成全市和各县的月总结报告（HTML 与 Excel），写入 `$HUIZONG_HOME/reports/<月份>/`。

也可随时手工运行任一月份：`huizong report --month 2026-11`。
"""


@dag(
    dag_id="monthly_conclusion",
    schedule=[WEEKLY_LOAD],
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["huizong", "monthly", "report"],
    doc_md=DOC,
    params={"month": Param("", type="string", description="月份，如 2026-11；留空按触发的周次推算")},
    default_args=DEFAULT_ARGS,
)
def monthly_conclusion():
    @task
    def plan_month(**context) -> str:
        from pipelines.report.monthly import month_for_run

        events = context.get("triggering_asset_events") or {}
        extras = [dict(e.extra or {}) for evs in events.values() for e in evs]
        return month_for_run(context["params"].get("month"), extras)

    @task(retries=0)
    def check_month(month: str) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.mart import month_status

        status = month_status(month)
        if not status["complete"]:
            raise AirflowSkipException(f"{month} 尚有周次未入库：{', '.join(status['missing'])}")
        return status

    @task
    def build_mart(status: dict) -> dict:
        from pipelines.mart import refresh_month

        out = refresh_month(status["month"])
        return {"month": out["month"], "weeks": out["loaded"], "rows": out["monthly"]["rows"]}

    @task
    def write_reports(built: dict) -> list[str]:
        from pipelines.report.monthly import write_monthly_reports

        return [str(p) for p in write_monthly_reports(built["month"])]

    write_reports(build_mart(check_month(plan_month())))


monthly_conclusion_dag = monthly_conclusion()
