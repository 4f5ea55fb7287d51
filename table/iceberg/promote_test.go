package iceberg

import (
	"encoding/binary"
	"testing"

	ice "github.com/apache/iceberg-go"
)

func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// TestMayHoldKeyPromotesBounds: a file's 4-byte bounds (written while the
// key was an int) and 8-byte bounds (after it became a long) both prune;
// the bucket partition value prunes; a file without bounds is kept.
func TestMayHoldKeyPromotesBounds(t *testing.T) {
	file := func(part int32, lo, hi []byte) ice.DataFile {
		t.Helper()
		b, err := ice.NewDataFileBuilder(*ice.UnpartitionedSpec, ice.EntryContentData, "f.parquet", ice.ParquetFile,
			map[int]any{1000: part}, nil, nil, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if lo != nil {
			b.LowerBoundValues(map[int][]byte{1: lo}).UpperBoundValues(map[int][]byte{1: hi})
		}
		return b.Build()
	}
	keys := []int64{-5, 7, 3_000_000_000}
	buckets := map[int]map[int32]bool{1000: {2: true}}
	for _, c := range []struct {
		name string
		f    ice.DataFile
		want bool
	}{
		{"int bounds around 7", file(2, le32(5), le32(9)), true},
		{"int bounds between keys", file(2, le32(0), le32(6)), false},
		{"negative int bound", file(2, le32(-10), le32(-5)), true},
		{"long bounds reach the big key", file(2, le64(10), le64(3_000_000_000)), true},
		{"long bounds above every key", file(2, le64(3_000_000_001), le64(4_000_000_000)), false},
		{"other bucket", file(3, le32(5), le32(9)), false},
		{"no bounds", file(2, nil, nil), true},
	} {
		if got := mayHoldKey(c.f, 1, keys, buckets); got != c.want {
			t.Errorf("%s: mayHoldKey = %v, want %v", c.name, got, c.want)
		}
	}
}
