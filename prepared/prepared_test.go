package prepared

import (
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

func typ(t *testing.T, name string) arrow.DataType {
	t.Helper()
	dt, err := change.ParseType(name)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

func TestCheck(t *testing.T) {
	cols := []Column{
		{Name: "customer_id", Type: typ(t, "long"), Source: "id"},
		{Name: "region", Type: typ(t, "string"), Source: "region"},
		{Name: "amount", Type: typ(t, "double")},
		{Name: "signed_up", Type: typ(t, "date"), Source: "signed_up"},
		{Name: "updated_at", Type: typ(t, "timestamp")},
		{Name: "valid_from", Type: typ(t, "timestamp")},
		{Name: "unknown"}, // type known at the first run only
	}
	def := Definition{
		Mode: History,
		PartitionBy: []Partition{
			{Transform: Month, Column: "signed_up"},
			{Transform: Hour, Column: "signed_up"},
			{Transform: Bucket, Param: 16, Column: "amount"},
			{Transform: Truncate, Param: 2, Column: "region"},
			{Transform: Identity, Column: "Region"},
			{Transform: Day, Column: "nope"},
			{Transform: Year, Column: "unknown"},
			{Transform: Day, Column: "updated_at"},
			{Transform: Year, Column: "updated_at"},
		},
		SortBy: []SortKey{{Column: "customer_id"}, {Column: "missing", Descending: true}},
	}
	got := Check(def, []string{"id", "org"}, cols)
	want := []Problem{
		{FieldSelect, -1, "mode history keeps rows by key: select needs primary key column org as it is (org, or org AS name)"},
		{FieldSelect, 5, "column name valid_from is one that mode history adds: name the column otherwise"},
		{FieldPartitionBy, 1, "hour(signed_up): column signed_up is date, which hour does not apply to"},
		{FieldPartitionBy, 2, "bucket(16, amount): column amount is double, which bucket does not apply to"},
		{FieldPartitionBy, 4, "Region is not a curated column; did you mean region?"},
		{FieldPartitionBy, 5, "nope is not a curated column (select names customer_id, region, amount, signed_up, updated_at, valid_from, unknown)"},
		{FieldPartitionBy, 8, "day(updated_at) and year(updated_at) both partition updated_at by time, which Iceberg refuses: keep one"},
		{FieldSortBy, 1, "missing is not a curated column (select names customer_id, region, amount, signed_up, updated_at, valid_from, unknown)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	// A changelog table needs no key, and reserves its own names.
	def.Mode, def.PartitionBy, def.SortBy = Changelog, nil, nil
	got = Check(def, []string{"id", "org"}, append(cols, Column{Name: "Commit_Time"}))
	want = []Problem{{FieldSelect, 7, "column name Commit_Time is one that mode changelog adds: name the column otherwise"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changelog: got %+v, want %+v", got, want)
	}
	if got := Check(Definition{Mode: Mirror}, []string{"id"}, cols[:1]); len(got) != 0 {
		t.Errorf("mirror with its key: %+v", got)
	}
}

func TestFingerprint(t *testing.T) {
	def := Definition{
		Mode:        Mirror,
		Format:      "iceberg",
		Select:      []string{"customer_id", "sha256(email) AS email_sha256", "CASE WHEN vip THEN 'gold  class' ELSE 'x' END AS tier"},
		Where:       "balance >= 0",
		PartitionBy: []Partition{{Transform: Bucket, Param: 8, Column: "customer_id"}, {Transform: Identity, Column: "tier"}},
		SortBy:      []SortKey{{Column: "customer_id"}},
	}
	// The value is stored in tables: it must not change between versions
	// of lakemerge for the same definition.
	// The hash of {"mode":"mirror","format":"iceberg","select":[...],...}
	// as Python's json.dumps(separators=(",", ":"), ensure_ascii=False)
	// writes it, computed with hashlib.
	const want = "v1:610daa077abff1febaafd7c7bcf9fbf166a49521a243bacb20473f89ee291782"
	fp := Fingerprint(def)
	if fp != want {
		t.Fatalf("Fingerprint = %s, want %s", fp, want)
	}
	same := def
	same.Select = []string{" customer_id", "sha256(email)\n  AS   email_sha256", "CASE WHEN vip\tTHEN 'gold  class' ELSE 'x' END AS tier "}
	same.Where = "balance >=\n 0"
	same.SortBy = nil
	if Fingerprint(same) != fp {
		t.Error("white space outside quotes or sort_by changed the fingerprint")
	}
	for name, change := range map[string]func(*Definition){
		"mode":         func(d *Definition) { d.Mode = History },
		"format":       func(d *Definition) { d.Format = "delta" },
		"select order": func(d *Definition) { d.Select = []string{d.Select[1], d.Select[0], d.Select[2]} },
		"select text":  func(d *Definition) { d.Select = []string{"customer_id", "SHA256(email) AS email_sha256", d.Select[2]} },
		"quoted spaces": func(d *Definition) {
			d.Select = []string{d.Select[0], d.Select[1], "CASE WHEN vip THEN 'gold class' ELSE 'x' END AS tier"}
		},
		"where":     func(d *Definition) { d.Where = "balance > 0" },
		"no where":  func(d *Definition) { d.Where = "" },
		"partition": func(d *Definition) { d.PartitionBy = d.PartitionBy[:1] },
		"bucket count": func(d *Definition) {
			d.PartitionBy = []Partition{{Transform: Bucket, Param: 16, Column: "customer_id"}, d.PartitionBy[1]}
		},
		"select to where": func(d *Definition) { d.Select, d.Where = d.Select[:2], d.Select[2] },
	} {
		d := def
		change(&d)
		if Fingerprint(d) == fp {
			t.Errorf("%s: the fingerprint did not change", name)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"  a  +\n\tb ":           "a + b",
		"'a  b'  ||  \"c  d\"":   "'a  b' || \"c  d\"",
		"'it''s  x'   y":         "'it''s  x' y",
		"":                       "",
		"lower( x )":             "lower( x )",
		"'unterminated   string": "'unterminated   string",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
