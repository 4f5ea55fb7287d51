package iceberg

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/table"
)

var testCols = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String},
}

// fixture is one local table (SQLite catalog, file warehouse) in 4 buckets.
type fixture struct {
	t   *testing.T
	mem *memory.CheckedAllocator
	tbl *Table
	bm  bookmarks.Bookmark
}

// localCatalog is an embedded catalog in a temporary folder with the
// namespace db, closed when the test ends.
func localCatalog(t *testing.T) *local.Catalog {
	t.Helper()
	dir := t.TempDir()
	cat, err := local.Open(filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if err := cat.EnsureNamespace(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	return cat
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat := localCatalog(t)
	f := &fixture{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	t.Cleanup(func() { f.mem.AssertSize(t, 0) })
	f.tbl = New(cat, Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: 4}, f.mem)
	return f
}

// changes builds one change per id (op, _seq seq); the caller releases it.
func (f *fixture) changes(op change.Op, seq byte, ids ...int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(f.mem, change.Schema(testCols))
	defer b.Release()
	for _, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("v%d@%d", id, seq))
		b.Field(2).(*array.Int8Builder).Append(int8(op))
		var sb change.SeqBuilder
		b.Field(3).(*array.BinaryBuilder).Append(sb.Byte(seq).Uint64(uint64(id)).Bytes())
	}
	return b.NewRecordBatch()
}

// stage begins a Txn and applies the changes, without committing.
func (f *fixture) stage(op change.Op, seq byte, ids ...int64) (*Txn, table.ApplyStats, error) {
	f.t.Helper()
	ctx := context.Background()
	x, err := f.tbl.Begin(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := x.Evolve(ctx, testCols); err != nil {
		f.t.Fatal(err)
	}
	rec := f.changes(op, seq, ids...)
	defer rec.Release()
	st, err := x.Apply(ctx, rec, nil)
	return x, st, err
}

// commit applies and commits the changes.
func (f *fixture) commit(op change.Op, seq byte, ids ...int64) {
	f.t.Helper()
	x, _, err := f.stage(op, seq, ids...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.bm = f.bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%d", seq)}})
	if err := x.Commit(context.Background(), f.bm); err != nil {
		f.t.Fatal(err)
	}
}

// state is what a failed attempt must leave unchanged: the table's
// metadata location and rows.
func (f *fixture) state() string {
	f.t.Helper()
	ctx := context.Background()
	tbl, err := f.tbl.Load(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if tbl == nil {
		return "no table"
	}
	at, err := tbl.Scan(icetable.WithSelectedFields("id", "v")).ToArrowTable(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer at.Release()
	var s strings.Builder
	fmt.Fprintf(&s, "%s\n", tbl.MetadataLocation())
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			fmt.Fprintf(&s, "%d=%s ", rec.Column(0).(*array.Int64).Value(i), rec.Column(1).(*array.String).Value(i))
		}
	}
	return s.String()
}

// dataDir is the local folder of the table's data files.
func (f *fixture) dataDir() string {
	f.t.Helper()
	tbl, err := f.tbl.Load(context.Background())
	if err != nil || tbl == nil {
		f.t.Fatalf("load: %v", err)
	}
	return filepath.Join(localPath(tbl.Location()), "data")
}

// TestUncreatableDataFileFailsApply: an insert into a partition whose
// folder cannot be created (a regular file is where it should be) fails
// Apply with an error naming the file, permanent (not retried), and
// leaves the table unchanged. iceberg-go's fan-out writer loses this error
// about half the time (see failureIO), so the test tries 10 times.
func TestUncreatableDataFileFailsApply(t *testing.T) {
	for trial := range 10 {
		f := newFixture(t)
		f.commit(change.OpInsert, 1) // creates the table, no rows
		before := f.state()
		if err := os.MkdirAll(f.dataDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		for b := range 4 {
			if err := os.WriteFile(filepath.Join(f.dataDir(), fmt.Sprintf("id_bucket=%d", b)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := f.stage(change.OpInsert, 2, int64(trial))
		if err == nil {
			t.Fatalf("trial %d: Apply of an insert into an uncreatable partition succeeded", trial)
		}
		if !strings.Contains(err.Error(), "create file://") || !strings.Contains(err.Error(), "/data/id_bucket=") {
			t.Fatalf("trial %d: error does not name the file: %v", trial, err)
		}
		if table.Retryable(err) {
			t.Fatalf("trial %d: a file that cannot be created is retried: %v", trial, err)
		}
		if after := f.state(); after != before {
			t.Fatalf("trial %d: table changed:\n%s\nwant\n%s", trial, after, before)
		}
	}
}

// blockFolder makes creating files in dir fail (testenv.BlockFolder). It
// skips the test, saying why, when this machine cannot.
func blockFolder(t *testing.T, dir string) {
	t.Helper()
	if !testenv.BlockFolder(t, dir) {
		t.Skip("cannot make a folder unwritable here (root, and no immutable attribute on this file system); TestUncreatableDataFileFailsApply covers the same path")
	}
}

// TestUpdateIntoUnwritablePartitionFailsApply: the reported data loss. An
// update whose new row goes into a partition folder that refuses new files
// fails Apply, naming the file, instead of committing the delete of the
// old row without the new one.
func TestUpdateIntoUnwritablePartitionFailsApply(t *testing.T) {
	f := newFixture(t)
	f.commit(change.OpInsert, 1, 1, 2, 3, 4, 5, 6, 7, 8)
	before := f.state()
	entries, err := os.ReadDir(f.dataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		blockFolder(t, filepath.Join(f.dataDir(), e.Name()))
	}
	for trial := range 5 {
		_, _, err := f.stage(change.OpUpdate, byte(2+trial), 1)
		if err == nil || !strings.Contains(err.Error(), "/data/id_bucket=") || table.Retryable(err) {
			t.Fatalf("trial %d: Apply of an update into an unwritable partition: %v", trial, err)
		}
	}
	if after := f.state(); after != before {
		t.Fatalf("table changed:\n%s\nwant\n%s", after, before)
	}
}

// TestVerifyCatchesLostFiles: Commit checks the files against the plan
// and commits nothing when they differ: a data file the writer dropped, a
// file shorter than written, a file that is gone.
func TestVerifyCatchesLostFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, x *Txn)
		want   string
	}{
		{"dropped data file", func(t *testing.T, x *Txn) {
			x.dataFiles = x.dataFiles[1:]
		}, "data files hold"},
		{"dropped delete file", func(t *testing.T, x *Txn) {
			x.delFiles = x.delFiles[1:]
		}, "delete files), the plan removes 8"},
		{"short data file", func(t *testing.T, x *Txn) {
			p := localPath(x.dataFiles[0].FilePath())
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()-1); err != nil {
				t.Fatal(err)
			}
		}, "were written"},
		{"missing delete file", func(t *testing.T, x *Txn) {
			if err := os.Remove(localPath(x.delFiles[0].FilePath())); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.commit(change.OpInsert, 1, 1, 2, 3, 4, 5, 6, 7, 8)
			before := f.state()
			x, st, err := f.stage(change.OpUpdate, 2, 1, 2, 3, 4, 5, 6, 7, 8)
			if err != nil {
				t.Fatal(err)
			}
			if st.Updated != 8 || len(x.dataFiles) < 2 || len(x.delFiles) < 2 {
				t.Fatalf("the update wrote %d data and %d delete files (%+v); the test needs 2 of each", len(x.dataFiles), len(x.delFiles), st)
			}
			tc.tamper(t, x)
			err = x.Commit(context.Background(), f.bm.Advance([]bookmarks.Entry{{Key: "raw/2"}}))
			if err == nil || !strings.Contains(err.Error(), "verify against the plan") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("commit: %v, want a verify error with %q", err, tc.want)
			}
			if table.Retryable(err) {
				t.Fatalf("a commit that does not match its plan is retried: %v", err)
			}
			if after := f.state(); after != before {
				t.Fatalf("table changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

// awsError is an error as the AWS SDK returns it.
func awsError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "Glue", OperationName: "UpdateTable", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "msg"},
	}}
}

// TestClassify: errors get their category by type; an untyped error is a
// conflict only when the table moved on since the attempt began.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.commit(change.OpInsert, 1, 1)
	tbl, err := f.tbl.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	began := tbl.MetadataLocation()
	untyped := errors.New("requirement failed: branch main has changed")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	check := func(what string, got, want error) {
		t.Helper()
		if want == nil {
			if table.Retryable(got) {
				t.Errorf("%s: %v, want permanent", what, got)
			}
			return
		}
		if !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("503 before the commit", f.tbl.classify(ctx, table.BeforeCommit, began, "", awsError(503, "ServiceUnavailable")), table.ErrTransient)
	check("503 in the commit", f.tbl.classify(ctx, table.InCommit, began, "", awsError(503, "ServiceUnavailable")), table.ErrCommitUnknown)
	check("access denied", f.tbl.classify(ctx, table.InCommit, began, "", awsError(403, "AccessDeniedException")), nil)
	check("compare-and-swap failed", f.tbl.classify(ctx, table.InCommit, began, "", fmt.Errorf("commit: %w", icetable.ErrCommitFailed)), table.ErrConflict)
	check("untyped, table unmoved", f.tbl.classify(ctx, table.InCommit, began, "", untyped), nil)
	check("canceled", f.tbl.classify(canceled, table.BeforeCommit, began, "", awsError(503, "ServiceUnavailable")), nil)
	f.commit(change.OpInsert, 2, 2) // the table moves on
	check("untyped, table moved", f.tbl.classify(ctx, table.InCommit, began, "", untyped), table.ErrConflict)
	cur, err := f.tbl.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("untyped, table moved to our bookmark", f.tbl.classify(ctx, table.InCommit, began, cur.Properties()[BookmarkProperty], untyped), table.ErrCommitUnknown)
}

// TestVacuumKeepsSideFilesOfRetainedMetadata: commits no longer delete the
// tombstone files of earlier states (a run that began from one reads
// them); Vacuum keeps every one the current or a retained earlier
// metadata file references and deletes the others once the metadata log
// has let go of them.
func TestVacuumKeepsSideFilesOfRetainedMetadata(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.commit(change.OpInsert, 1, 1, 2, 3, 4, 5, 6, 7, 8)
	for i := int64(1); i <= 4; i++ {
		f.commit(change.OpDelete, byte(1+i), i) // new tombstones each time
	}
	tombFiles := func() []string {
		var out []string
		tbl, err := f.tbl.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(localPath(tbl.Location()), "metadata"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "lakemerge-tombstones-") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if got := tombFiles(); len(got) != 4 {
		t.Fatalf("tombstone files %v, want the 4 written", got)
	}
	if _, err := f.tbl.Vacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := tombFiles(); len(got) != 4 {
		t.Fatalf("vacuum deleted tombstone files retained metadata references: %v left", got)
	}
	// Retain one earlier metadata file only: the metadata log lets go of
	// the states with the first three tombstone files.
	tbl, err := f.tbl.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx := tbl.NewTransaction()
	if err := tx.SetProperties(map[string]string{"write.metadata.previous-versions-max": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	f.commit(change.OpDelete, 6, 5)
	if _, err := f.tbl.Vacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tbl, err = f.tbl.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := sideFilesReferenced(fsys, tbl)
	if err != nil {
		t.Fatal(err)
	}
	got := tombFiles()
	if len(got) != 2 || len(refs) != 2 {
		t.Fatalf("after vacuum: tombstone files %v, referenced %v; want the 2 of the current and the retained state", got, refs)
	}
	for _, name := range got {
		if !refs[filepath.Join(localPath(tbl.Location()), "metadata", name)] {
			t.Fatalf("vacuum kept %s, which nothing references", name)
		}
	}
	f.commit(change.OpInsert, 7, 1) // the table still works
	if st := f.state(); !strings.Contains(st, "1=v1@7") || strings.Contains(st, "2=") {
		t.Fatalf("table after vacuum: %s", st)
	}
}
