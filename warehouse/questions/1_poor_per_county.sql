-- 上周各县的贫困户数与贫困人数（期末）
SELECT region_code AS "县代码", region_name AS "县", week AS "周次",
       hh_close AS "贫困户数", pp_close AS "贫困人数"
FROM mart.weekly_summary
WHERE level = '县' AND week = (SELECT max(week) FROM mart.weekly_summary)
ORDER BY region_code;
