package iceberg

import (
	"testing"
	"time"
)

// TestYoungIsACreateInFlight: only version-0 metadata files written less
// than createGrace ago are taken for a table another writer is creating;
// anything else under the location is a table the catalog lost.
func TestYoungIsACreateInFlight(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := func(version int, age time.Duration) metadataFile {
		return metadataFile{Location: "m", Version: version, Modified: now.Add(-age)}
	}
	for _, c := range []struct {
		name  string
		files []metadataFile
		want  bool
	}{
		{"first file a moment old", []metadataFile{v(0, time.Second)}, true},
		{"two racing creates", []metadataFile{v(0, time.Hour), v(0, time.Second)}, true},
		{"first file older than the grace", []metadataFile{v(0, createGrace)}, false},
		{"a committed table", []metadataFile{v(0, time.Second), v(1, time.Second)}, false},
		{"a file with no version", []metadataFile{v(-1, time.Second)}, false},
		{"no time known", []metadataFile{{Location: "m", Version: 0}}, false},
		{"nothing", nil, false},
	} {
		if got := young(c.files, now); got != c.want {
			t.Errorf("%s: young = %v, want %v", c.name, got, c.want)
		}
	}
}
