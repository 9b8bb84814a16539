-- 本月各县脱贫户数、年内累计与年度计划
SELECT region_code AS "县代码", region_name AS "县", month AS "月份",
       hh_exit AS "本月脱贫户数", exits_ytd_hh AS "年内累计脱贫户数",
       planned_exit_this_year AS "年度计划脱贫户数",
       CAST(ROUND(CAST(exit_plan_rate AS NUMERIC(18, 6)), 4) AS NUMERIC(18, 4)) AS "计划完成率"
FROM mart.monthly_conclusion
WHERE level = '县' AND month = (SELECT max(month) FROM mart.monthly_conclusion)
ORDER BY region_code;
