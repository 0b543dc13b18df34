-- Athena only: the SQL plan's table of a source's S3 Inventory report, dropped when the plan is done.
DROP TABLE IF EXISTS {{ table }}
