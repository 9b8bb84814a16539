"""weekly_ingest — 每周一 12:00（上海时间）汇总上周各级报表。

Thin DAG: every task calls a step of ``pipelines.weekly``; nothing heavy is imported and
no connection is touched while the file is parsed.
"""
from __future__ import annotations

from airflow.sdk import Param, dag, task

from pipelines.dag_defaults import DEFAULT_ARGS, START, WEEKLY_LOAD

DOC = """
### 周报汇总（weekly_ingest）

每周一 12:00（Asia/Shanghai，周一 10:00 报送截止之后）处理刚结束的 ISO 周：

1. **discover** 确定周次，从落地区读取该周全部文件，按 sha256 原样存档，登记到 `core.submissions`，
   并决定本次运行的路径：该周第一次运行，或需要解析的文件较多时走下面的全量路径（2–6）；
   该周已发布、只来了少量补报或更正件（需解析的文件不超过 `HUIZONG_QUICK_FILES`，默认 200）或只有豁免时，
   由 **choose_path** 选择任务 **apply_changes**，在同一进程中依次完成 2–6 的全部步骤（只处理变化的部分），全量路径的任务记为跳过；
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


@dag(
    dag_id="weekly_ingest",
    schedule="0 12 * * 1",
    start_date=START,
    catchup=True,
    max_active_runs=1,
    tags=["huizong", "weekly", "ingest"],
    doc_md=DOC,
    params={"week": Param("", type="string", description="ISO 周次，如 2026-W47；留空按逻辑日期推算")},
    default_args=DEFAULT_ARGS,
)
def weekly_ingest():
    # Every task of the full path follows choose_path directly: a branch skips them all at once.
    FULL_PATH = ["process_group", "data_docs", "publish", "consolidate", "review", "weekly_summary"]

    @task
    def discover(**context) -> list[list[str]]:
        """Plan the week; returns the full path's batches (what process_group maps over), and
        gives the week and the quick path's batches as the XComs ``week`` and ``quick``."""
        from pipelines import weekly
        from pipelines.ingest.schedule import week_for_run

        plan = weekly.discover(week_for_run(context["params"].get("week"), context.get("logical_date"),
                                            context.get("data_interval_end")))
        context["ti"].xcom_push(key="week", value=plan["week"])
        context["ti"].xcom_push(key="quick", value=plan["quick"])
        return plan["batches"]

    @task.branch
    def choose_path(batches: list, quick: list) -> list[str]:
        """The full path for a week's first run or a large change; the quick path for a
        small change to a published week; neither for a week with no files."""
        return ["apply_changes"] if quick else FULL_PATH if batches else []

    @task(max_active_tis_per_dagrun=4)
    def process_group(batch: list[str], week: str) -> dict:
        from pipelines import weekly

        return weekly.process_group(weekly.Run(week, batches=[batch]))[0]

    @task
    def publish(week: str, staged: list[dict], **context) -> dict:
        from pipelines import weekly

        # Index, don't iterate: iterating a lazy XCom sequence probes one past the end.
        return weekly.publish(weekly.Run(week, context["run_id"], staged=[staged[i] for i in range(len(staged))]))

    @task
    def data_docs(week: str) -> str:
        from pipelines import weekly

        return weekly.data_docs(weekly.Run(week))

    @task
    def consolidate(week: str) -> dict:
        from pipelines import weekly

        return weekly.consolidate(weekly.Run(week))

    @task
    def review(week: str, **context) -> dict:
        from pipelines import weekly

        return weekly.review(weekly.Run(week, context["run_id"]))

    @task(outlets=[WEEKLY_LOAD])
    def weekly_summary(week: str, **context) -> dict:
        from pipelines import weekly
        from pipelines.weeks import month_of_week

        context["outlet_events"][WEEKLY_LOAD].extra = {"week": week, "month": month_of_week(week)}
        return weekly.weekly_summary(weekly.Run(week))

    @task(outlets=[WEEKLY_LOAD])
    def apply_changes(week: str, quick: list[list[str]], **context) -> dict:
        from pipelines import weekly
        from pipelines.weeks import month_of_week

        context["outlet_events"][WEEKLY_LOAD].extra = {"week": week, "month": month_of_week(week)}
        return weekly.apply_changes(week, quick, run_id=context["run_id"])

    plan = discover()
    week = plan["week"]
    staged = process_group.partial(week=week).expand(batch=plan)
    docs = data_docs(week)  # beside publish: nothing downstream reads the docs
    published = publish(week, staged)
    line = [consolidate(week), review(week), weekly_summary(week)]
    staged >> docs
    published >> line[0] >> line[1] >> line[2]
    choose_path(plan, plan["quick"]) >> [staged, docs, published, *line, apply_changes(week, plan["quick"])]


weekly_ingest_dag = weekly_ingest()
