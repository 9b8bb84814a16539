-- 迟报次数最多的十个村（各周各表合计）
SELECT region_code AS "村代码", region_name AS "村",
       SUM(CASE WHEN late THEN 1 ELSE 0 END) AS "迟报次数",
       SUM(CASE WHEN missing THEN 1 ELSE 0 END) AS "未报次数"
FROM mart.reporting_status
WHERE level = '村'
GROUP BY region_code, region_name
HAVING SUM(CASE WHEN late THEN 1 ELSE 0 END) > 0
ORDER BY "迟报次数" DESC, region_code
LIMIT 10;
