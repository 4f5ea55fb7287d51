package config

// Example is a complete job file with every field, as the README documents
// it ("lakemerge example" prints it).
const Example = `
# Where DMS writes the change files: file:///absolute/path or s3://bucket/prefix.
# Each table's files are under <raw>/<source.prefix>.
raw: file:///data/dms
# Where new Iceberg tables are created (<warehouse>/<database>.db/<table>).
warehouse: file:///data/warehouse
# The catalog that records the tables. sqlite is the embedded default: an
# Iceberg SQL catalog in one file (relative paths are relative to this file);
# pyiceberg's SqlCatalog reads it under the catalog name "lakemerge".
catalog:
  type: sqlite
  path: catalog.db
# Memory budget of one table's run, in MiB (tables run one after another).
# A run whose decoded changes pass half of it spills them to local disk,
# partitioned by primary key, and deduplicates them partition by partition.
# Default: 60% of the container's memory limit, else of the machine's memory.
# memory_mb: 4096
# spill_dir: /var/tmp/lakemerge  # where spilled changes and a Delta optimize's copies go; default TMPDIR, else /tmp
# Settings every table gets unless it sets them itself (field by field).
defaults:
  database: base            # target database; else the source schema
  buckets: 16               # partition by bucket(N, first primary key column); 0 = unpartitioned (so is a boolean first key)
  target_file_mb: 128       # target size of the data files written
  tombstone_horizon: 168h   # how long deleted keys are remembered, so late changes cannot revive them
  # Objects under a table's prefix that are not change files stop the table
  # (nothing is skipped unseen) unless a glob here or in the table's own
  # ignore: list names them: without a slash it matches the file name in any
  # folder, with one the path below the prefix.
  ignore: [_SUCCESS, "*.tmp"]
  # Maintenance: run applies it after a table's commit when a threshold is
  # crossed; "lakemerge maintain" applies it on demand.
  maintenance:
    enabled: true             # false: only "lakemerge maintain" maintains the table
    compact_delete_files: 8   # compact an Iceberg bucket with this many delete files; 0 = never
    compact_small_files: 16   # compact a bucket (Delta: the table) with this many small files; 0 = never
    small_file_mb: 32         # a data file smaller than this is small
    rewrite_deleted_pct: 10   # Iceberg, in a pass the counts above made due: rewrite a data file once this % of
                              # its rows is deleted (else merge its delete files), bin-pack the small files;
                              # 0 = rewrite every file with deletes
    keep_snapshots: 10        # keep at least the newest N table versions
    time_travel: 24h          # keep versions younger than this (time travel, rollback); 0 = never expire
    orphan_age: 24h           # delete unreferenced files once older than this (at least 1h)
  dms:
    delimiter: ","          # CsvDelimiter (one character)
    null_value: ""          # CsvNullValue: an unquoted field equal to it is NULL
    # no_sup_value: "@NOSUP" # CsvNoSupValue: such a field keeps the value the table has
    header: false           # AddColumnName: files start with a header row
    include_op_for_full_load: false  # IncludeOpForFullLoad: LOAD files have the Op column
    # before_image_prefix: BI_ # column-prefix of an add-before-image-columns rule (off by default;
    # before_image_suffix: "" # and its column-suffix): a U row that changes its key deletes the old one
  prepared:
    database: prepared      # target database of prepared tables
    on_change: stop         # a changed definition: stop (name the rebuild command) or rebuild
tables:
  - name: customers               # name used by --table and in logs; default: source.table
    source:
      schema: public
      table: customers
      prefix: public/customers/   # default: <schema>/<table>/
    format: dms-csv               # dms-csv (default) or debezium-json
    primary_key: [customer_id]    # one or more columns
    # The columns in source order. Required without a header; with a header,
    # the types of the columns named here (others are strings).
    # Types: int, long, float, double, decimal(p,s), boolean, string, binary, date, timestamp.
    columns:
      - { name: customer_id, type: long }
      - { name: name, type: string }
      - { name: email, type: string }
      - { name: balance, type: "decimal(12,2)" }
      - { name: vip, type: boolean }
      - { name: signed_up, type: date }
      - { name: updated_at, type: timestamp }
      - { name: change_seq, type: string }
    target:
      database: base              # default: defaults.database, else source.schema
      table: customers            # default: source.table
      format: iceberg             # iceberg (default) or delta (Delta Lake)
    buckets: 8
    dms:
      header: true
      include_op_for_full_load: true
      timestamp_column: dms_ts        # TimestampColumnName: read, never used for order
      change_seq_column: change_seq   # a column holding AR_H_CHANGE_SEQ: orders changes exactly
    # Prepared tables: the table's rows curated by SQL expressions over the
    # base row (DuckDB SQL; see "Prepared zone" in the README). They
    # are checked when the job file is loaded. Runs keep mirror, history and
    # changelog tables, partitioned by partition_by and with files in
    # sort_by order.
    prepared:
      - target:
          table: customers          # database: defaults.prepared.database; format: the base table's
        mode: mirror                # mirror: current row per key; history: every version; changelog: every change
        select:                     # "expr AS name"; a bare column keeps its name
          - customer_id             # mirror and history need the primary key, as is (renaming allowed)
          - name AS customer_name
          - sha256(lower(email)) AS email_sha256
          - CAST(balance AS double) AS balance
          - CASE WHEN vip THEN 'gold' ELSE 'standard' END AS tier
          - signed_up
          - date_trunc('month', updated_at) AS updated_month
        where: balance >= 0         # rows that fail it are not in (mirror: deleted)
        partition_by: [month(signed_up)]  # Iceberg: col, year/month/day/hour(col), bucket(N, col), truncate(W, col)
        sort_by: [customer_id]      # order of rows within files
        on_change: stop             # default: defaults.prepared.on_change
      - target: { table: customers_history, format: delta }
        mode: history
        select: [customer_id, name, balance, vip]
  - source: { schema: public, table: orders }
    primary_key: [order_id, line_no]
    columns:
      - { name: order_id, type: long }
      - { name: line_no, type: int }
      - { name: sku, type: string }
      - { name: quantity, type: int }
      - { name: price, type: "decimal(10,2)" }
    dms: { delimiter: "|", null_value: NULL }
    maintenance: { compact_delete_files: 4 }   # the other fields from defaults
  # Debezium events (here: PostgreSQL connector) written by the Kafka
  # Connect S3 sink (JSON lines, topics/<topic>/partition=<p>/...).
  - name: payments
    source:
      schema: public
      table: payments
      topic: pg.public.payments     # the Kafka topic; prefix default: topics/<topic>/
    format: debezium-json
    primary_key: [payment_id]
    # Types of events without a schema wrapper (with one, its types are used).
    columns:
      - { name: payment_id, type: long }
      - { name: amount, type: "decimal(12,2)" }
      - { name: paid_at, type: timestamp }
    debezium:
      tombstones: skip              # skip (default) or delete (needs the sink's keys files)
      flattened: false              # events went through ExtractNewRecordState
      single_partition: false       # true: order by offset alone (no source position needed)
      truncate_sub_micros: false    # true: drop sub-microsecond digits instead of failing
      wide_decimals: error          # decimals wider than decimal(38,s) (or PostgreSQL numeric without
                                    # precision) that columns does not type: error (default) or string
      encodings:                    # how a column is written when events carry no schema
        amount: string              # decimal.handling.mode=string
`
