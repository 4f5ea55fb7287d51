// Package arrowtext renders Arrow values, change batches and tables as text
// for golden files and comparisons in tests: one value form (NULL, numbers,
// decimals at their scale, dates, microsecond timestamps in UTC, quoted
// strings, 0x-hex binary), one line per change row, and tables as sorted
// "a|b|c" lines. Only test code imports it (architecture_test.go).
package arrowtext

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
)

// Value renders row i of a: NULL, an integer, a float ('g', shortest), a
// decimal at its scale, true/false, yyyy-mm-dd, a timestamp as
// "yyyy-mm-dd hh:mm:ss.ffffff" (UTC), a Go-quoted string, or 0x and hex
// bytes. Another type renders as ?<type>.
func Value(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch a := a.(type) {
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC().Format("2006-01-02 15:04:05.000000")
	case *array.String:
		return strconv.Quote(a.Value(i))
	case *array.Binary:
		return "0x" + hex.EncodeToString(a.Value(i))
	}
	return fmt.Sprintf("?%s", a.DataType())
}

// Schema renders the user columns of a change schema as "name type, ..."
// with the job file's type names.
func Schema(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		if !change.IsSystemColumn(f.Name) {
			parts = append(parts, f.Name+" "+change.TypeName(f.Type))
		}
	}
	return strings.Join(parts, ", ")
}

// Rows is how a change batch renders, a line per row:
//
//	<op> seq=<hex>[ (<Seq(_seq)>)][ keep=<bits>] <column>=<Value>...[ _keep=[<columns>]][ _ts=<Value>]
//
// The two layouts of _keep are those of the decoders' golden files.
type Rows struct {
	// Seq, when set, describes each _seq in parentheses after its hex.
	Seq func([]byte) string
	// KeepNames renders a row's _keep as the names of its kept columns,
	// after the values; otherwise as its bits (%08b), before them. A row
	// without _keep shows neither.
	KeepNames bool
}

// Write appends the lines of rec's rows to sb.
func (l Rows) Write(sb *strings.Builder, rec arrow.RecordBatch) {
	s := rec.Schema()
	op := rec.Column(s.FieldIndices(change.ColOp)[0]).(*array.Int8)
	seq := rec.Column(s.FieldIndices(change.ColSeq)[0]).(*array.Binary)
	var keep *array.Binary
	if ki := s.FieldIndices(change.ColKeep); len(ki) == 1 {
		keep = rec.Column(ki[0]).(*array.Binary)
	}
	var ts arrow.Array
	if ti := s.FieldIndices(change.ColTS); len(ti) == 1 {
		ts = rec.Column(ti[0])
	}
	var user []int
	for i, f := range s.Fields() {
		if !change.IsSystemColumn(f.Name) {
			user = append(user, i)
		}
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		fmt.Fprintf(sb, "%s seq=%x", change.Op(op.Value(r)), seq.Value(r))
		if l.Seq != nil {
			fmt.Fprintf(sb, " (%s)", l.Seq(seq.Value(r)))
		}
		kept := keep != nil && keep.IsValid(r)
		if kept && !l.KeepNames {
			fmt.Fprintf(sb, " keep=%08b", keep.Value(r))
		}
		for _, i := range user {
			sb.WriteString(" " + s.Field(i).Name + "=" + Value(rec.Column(i), r))
		}
		if kept && l.KeepNames {
			var names []string
			bits := keep.Value(r)
			for j, i := range user {
				if j/8 < len(bits) && bits[j/8]&(1<<(j%8)) != 0 {
					names = append(names, s.Field(i).Name)
				}
			}
			sb.WriteString(" _keep=[" + strings.Join(names, ",") + "]")
		}
		if ts != nil && ts.IsValid(r) {
			sb.WriteString(" _ts=" + Value(ts, r))
		}
		sb.WriteByte('\n')
	}
}

// TableByKey renders the named columns of every row of tbl as "a|b|c"
// lines sorted by the first column, an integer of any width: Arrow's value
// strings (ValueStr), decimals at their scale, NULL for nulls.
func TableByKey(t testing.TB, tbl arrow.Table, names ...string) string {
	t.Helper()
	type row struct {
		key  int64
		line string
	}
	var rows []row
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			cells := make([]string, len(names))
			for i, n := range names {
				idx := rec.Schema().FieldIndices(n)
				if len(idx) != 1 {
					t.Fatalf("table has no column %q: %s", n, rec.Schema())
				}
				col := rec.Column(idx[0])
				cells[i] = "NULL"
				if d, ok := col.(*array.Decimal128); ok && d.IsValid(r) {
					cells[i] = d.Value(r).ToString(d.DataType().(*arrow.Decimal128Type).Scale)
				} else if col.IsValid(r) {
					cells[i] = col.ValueStr(r)
				}
			}
			key, err := strconv.ParseInt(cells[0], 10, 64)
			if err != nil {
				t.Fatalf("key %q: %v", cells[0], err)
			}
			rows = append(rows, row{key, strings.Join(cells, "|") + "\n"})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.key, b.key) })
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.line)
	}
	return b.String()
}
