"""The mart schema (周汇总、月总结): BI-ready tables built from core."""
from pipelines.mart.build import (month_status, refresh_all, refresh_month, refresh_monthly_mart,
                                  refresh_weekly_mart)

__all__ = ["month_status", "refresh_all", "refresh_month", "refresh_monthly_mart", "refresh_weekly_mart"]
