package delta

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestDecodeActionsReportsReadErrors: a log entry whose read fails part-way
// gives the read's error, not a JSON error about the partial line nor the
// actions before it, wherever the read stops.
func TestDecodeActionsReportsReadErrors(t *testing.T) {
	entry := `{"commitInfo":{"operation":"MERGE","operationParameters":{"predicate":"id \u003d 1"}}}` + "\n" +
		`{"txn":{"appId":"lakemerge","version":3}}` + "\n" +
		`{"add":{"path":"a.parquet","size":10,"modificationTime":1,"dataChange":true}}` + "\n"
	if acts, err := decodeActions(strings.NewReader(entry)); err != nil || len(acts) != 3 {
		t.Fatalf("whole entry: %d actions, %v", len(acts), err)
	}
	errRead := errors.New("connection reset")
	for cut := 0; cut < len(entry); cut++ {
		r := io.MultiReader(strings.NewReader(entry[:cut]), iotest.ErrReader(errRead))
		if acts, err := decodeActions(r); !errors.Is(err, errRead) {
			t.Fatalf("read failing after %d bytes: %d actions, %v; want the read error", cut, len(acts), err)
		}
	}
}
