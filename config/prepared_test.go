package config

import (
	"reflect"
	"testing"
)

// TestPreparedDefaults: a prepared table's target database comes from
// defaults.prepared, else "prepared"; its table and format from the base
// table's target; on_change from defaults.prepared, else stop.
func TestPreparedDefaults(t *testing.T) {
	job, err := Parse([]byte(`
raw: file:///r
warehouse: file:///w
catalog: {type: sqlite, path: c.db}
defaults:
  prepared: {database: curated, on_change: rebuild}
tables:
  - source: {schema: s, table: a}
    primary_key: id
    columns: [{name: id, type: long}, {name: ts, type: timestamp}]
    target: {format: delta}
    prepared:
      - mode: mirror
        select: [id]
      - mode: changelog
        target: {database: lake, table: a_log, format: iceberg}
        select: ["id AS key", "ts"]
        where: "id > 0"
        partition_by: ["day(ts)", "bucket(8, key)", "truncate(3, \"Key\")", key]
        sort_by: [ts DESC, key asc]
        on_change: stop
  - source: {schema: s, table: b}
    primary_key: id
    columns: [{name: id, type: long}]
    prepared: [{mode: history, select: [id]}]
`), "job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := job.Tables[0].Prepared, job.Tables[1].Prepared
	want := []Prepared{{
		Target:     Target{Database: "curated", Table: "a", Format: TargetDelta},
		Mode:       ModeMirror,
		Select:     []Expr{{"id", 14}},
		OnChange:   OnChangeRebuild,
		Line:       13,
		SelectLine: 14,
	}, {
		Target: Target{Database: "lake", Table: "a_log", Format: TargetIceberg},
		Mode:   ModeChangelog,
		Select: []Expr{{"id AS key", 17}, {"ts", 17}},
		Where:  Expr{"id > 0", 18},
		PartitionBy: []PartitionField{
			{Transform: PartitionDay, Column: "ts", Line: 19},
			{Transform: PartitionBucket, Column: "key", Param: 8, Line: 19},
			{Transform: PartitionTruncate, Column: "Key", Param: 3, Line: 19},
			{Transform: PartitionIdentity, Column: "key", Line: 19},
		},
		SortBy:     []SortField{{Column: "ts", Descending: true, Line: 20}, {Column: "key", Line: 20}},
		OnChange:   OnChangeStop,
		Line:       15,
		SelectLine: 17,
	}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("table a:\ngot  %+v\nwant %+v", a, want)
	}
	wantB := []Prepared{{
		Target:     Target{Database: "curated", Table: "b", Format: TargetIceberg},
		Mode:       ModeHistory,
		Select:     []Expr{{"id", 25}},
		OnChange:   OnChangeRebuild,
		Line:       25,
		SelectLine: 25,
	}}
	if !reflect.DeepEqual(b, wantB) {
		t.Errorf("table b:\ngot  %+v\nwant %+v", b, wantB)
	}
}

// TestPreparedDefaultDatabase: without defaults.prepared the database is
// DefaultPreparedDatabase and on_change is stop.
func TestPreparedDefaultDatabase(t *testing.T) {
	job, err := Parse([]byte(`
raw: file:///r
warehouse: file:///w
catalog: {type: sqlite, path: c.db}
tables:
  - source: {schema: s, table: a}
    primary_key: id
    columns: [{name: id, type: long}]
    prepared: [{mode: mirror, select: [id]}]
`), "job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := job.Tables[0].Prepared[0]
	if p.Target != (Target{Database: DefaultPreparedDatabase, Table: "a", Format: TargetIceberg}) || p.OnChange != OnChangeStop {
		t.Fatalf("prepared %+v", p)
	}
}

func TestParsePartition(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PartitionField
	}{
		{"id", PartitionField{Transform: PartitionIdentity, Column: "id"}},
		{" identity( id ) ", PartitionField{Transform: PartitionIdentity, Column: "id"}},
		{"YEAR(ts)", PartitionField{Transform: PartitionYear, Column: "ts"}},
		{"month(ts)", PartitionField{Transform: PartitionMonth, Column: "ts"}},
		{"day(ts)", PartitionField{Transform: PartitionDay, Column: "ts"}},
		{"hour(ts)", PartitionField{Transform: PartitionHour, Column: "ts"}},
		{"bucket(1024, id)", PartitionField{Transform: PartitionBucket, Column: "id", Param: 1024}},
		{"truncate(10,name)", PartitionField{Transform: PartitionTruncate, Column: "name", Param: 10}},
		{`"Order Date"`, PartitionField{Transform: PartitionIdentity, Column: "Order Date"}},
		{`day("a""b")`, PartitionField{Transform: PartitionDay, Column: `a"b`}},
	} {
		got, err := ParsePartition(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePartition(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "bucket(id)", "bucket(0, id)", "bucket(1025, id)", "bucket(x, id)",
		"truncate(0, s)", "day()", "day(a, b)", "day(ts", "week(ts)", "a b", "a.b", `"a"b"`, `""`, "day(a b)"} {
		if got, err := ParsePartition(bad); err == nil {
			t.Errorf("ParsePartition(%q) = %+v, accepted", bad, got)
		}
	}
}
