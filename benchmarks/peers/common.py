"""Shared by the peer scripts: read the generated DMS files with pyarrow,
and keep the latest change per key (the work every peer needs before its
merge call, since none of them orders DMS changes itself)."""
import glob
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

COLUMNS = [
    ("id", pa.int64()),
    ("customer_id", pa.int64()),
    ("status", pa.string()),
    ("amount", pa.decimal128(12, 2)),
    ("qty", pa.int32()),
    ("updated_at", pa.timestamp("us")),
    ("note", pa.string()),
]
SCHEMA = pa.schema(COLUMNS)


def _options(names):
    types = dict(COLUMNS)
    types["Op"] = pa.string()
    return dict(
        read_options=pcsv.ReadOptions(column_names=names, block_size=16 << 20),
        convert_options=pcsv.ConvertOptions(
            column_types={n: types[n] for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
    )


def _read(paths, names):
    return pa.concat_tables([pcsv.read_csv(p, **_options(names)) for p in paths])


def load_files(workdir):
    return sorted(glob.glob(os.path.join(workdir, "raw", "public", "orders", "LOAD*.csv")))


def cdc_files(workdir):
    return sorted(glob.glob(os.path.join(workdir, "cdc", "public", "orders", "*.csv")))


def read_load(workdir):
    return _read(load_files(workdir), [n for n, _ in COLUMNS])


def stream_load(workdir):
    """The full load as a RecordBatchReader of SCHEMA, file by file, so that
    a writer that streams holds a few batches, not the whole load."""
    names = [n for n, _ in COLUMNS]

    def gen():
        for p in load_files(workdir):
            with pcsv.open_csv(p, **_options(names)) as r:
                for b in r:
                    yield b.cast(SCHEMA)

    return pa.RecordBatchReader.from_batches(SCHEMA, gen())


def read_changes(workdir):
    """Latest change per id in file and row order, as (upserts, delete_ids)."""
    t = _read(cdc_files(workdir), ["Op"] + [n for n, _ in COLUMNS])
    t = t.append_column("_row", pa.array(range(t.num_rows), pa.int64()))
    last = t.group_by("id").aggregate([("_row", "max")])
    t = t.take(last["_row_max"])
    deletes = t.filter(pc.equal(t["Op"], "D"))["id"]
    upserts = t.filter(pc.not_equal(t["Op"], "D")).select([n for n, _ in COLUMNS]).cast(SCHEMA)
    return upserts, deletes
