-- Athena only: a source's S3 Inventory report as the external table {{ table }} for the SQL plan (the
-- local engine reads the report's files directly). Its location holds one symlink.txt naming the
-- report's data files (those of the manifest.json the request names, not every report in the folder).
-- Dropped when the plan is done (inventory_table_drop.sql). {{ format }}: CSV, Parquet or ORC.
CREATE EXTERNAL TABLE {{ table }} ({{ columns }})
{% if format == 'CSV' -%}
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
{%- elif format == 'Parquet' -%}
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
{%- else -%}
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.orc.OrcSerde'
{%- endif %}
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
LOCATION '{{ location }}'
