-- 各指标虚报差异最大的一条（上报数大于汇总数）
SELECT metric AS "指标", metric_name AS "指标名称", unit AS "单位", week AS "周次",
       region_code AS "单位代码", region_name AS "单位名称",
       CAST(reported AS NUMERIC(18, 2)) AS "上报数", CAST(consolidated AS NUMERIC(18, 2)) AS "汇总数",
       CAST(abs_difference AS NUMERIC(18, 2)) AS "差异"
FROM (SELECT d.*, ROW_NUMBER() OVER (PARTITION BY metric ORDER BY abs_difference DESC, week, region_code, source_row) AS n
      FROM mart.discrepancies d WHERE direction = '虚报') ranked
WHERE n = 1
ORDER BY metric;
