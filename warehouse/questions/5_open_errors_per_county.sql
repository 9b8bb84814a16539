-- 各县待处理的错误数（全部周次）
SELECT r.region_code AS "县代码", r.region_name AS "县", COUNT(DISTINCT f.finding_id) AS "待处理错误数"
FROM mart.dim_region r
LEFT JOIN mart.findings f ON f.county_code = r.region_code AND f.severity = 'error' AND f.status = 'open'
WHERE r.level = '县'
GROUP BY r.region_code, r.region_name
ORDER BY r.region_code;
