// Package trino is the tests' client of the Trino server scripts/trino.sh
// starts next to them (Athena engine v3 is built on Trino): it waits for
// the server and runs statements through Trino's client REST protocol.
// Only test code imports it (architecture_test.go).
package trino

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// URL returns the Trino server's URL (LAKEMERGE_TRINO), once it accepts
// queries. Without one the test is skipped, except under CI, where it
// fails (testenv.Require); a server that does not start in 4 minutes
// fails the test with the end of its log (LAKEMERGE_TRINO_LOG).
func URL(t testing.TB) string {
	t.Helper()
	u := testenv.Require(t, "LAKEMERGE_TRINO", "the Trino (Athena) server scripts/trino.sh starts")
	deadline := time.Now().Add(4 * time.Minute)
	for {
		var info struct{ Starting bool }
		resp, err := http.Get(u + "/v1/info")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&info)
			resp.Body.Close()
			if err == nil && !info.Starting {
				return u
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(os.Getenv("LAKEMERGE_TRINO_LOG"))
			t.Fatalf("Trino at %s did not start in 4 minutes (%v); its log:\n%s", u, err, tail(string(log), 4000))
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Result is a statement's columns (name and Trino type), its rows as the
// client protocol sends them (JSON values, numbers as json.Number), and
// how many rows the query read (stats.processedRows of its last page:
// what partition pruning lowers).
type Result struct {
	Cols, Types   []string
	Rows          [][]any
	ProcessedRows int64
}

// Query runs one statement (POST /v1/statement, then nextUri to the last
// page) in the UTC time zone, with timestamps at full precision; an error
// of the server or the protocol fails the test with the statement.
func Query(t testing.TB, url, sql string) Result {
	t.Helper()
	var res Result
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/statement", strings.NewReader(sql))
	for req != nil {
		req.Header.Set("X-Trino-User", "lakemerge")
		req.Header.Set("X-Trino-Time-Zone", "UTC")
		// Without it Trino rounds timestamps to milliseconds for clients
		// that predate parametric types.
		req.Header.Set("X-Trino-Client-Capabilities", "PARAMETRIC_DATETIME")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("trino %q: %v", sql, err)
		}
		var page struct {
			NextURI string `json:"nextUri"`
			Columns []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"columns"`
			Data  [][]any `json:"data"`
			Stats struct {
				ProcessedRows int64 `json:"processedRows"`
			} `json:"stats"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		err = dec.Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("trino %q: decode page (HTTP %d): %v", sql, resp.StatusCode, err)
		}
		if page.Error != nil {
			t.Fatalf("trino %q: %s", sql, page.Error.Message)
		}
		if res.Cols == nil && page.Columns != nil {
			for _, c := range page.Columns {
				res.Cols, res.Types = append(res.Cols, c.Name), append(res.Types, c.Type)
			}
		}
		res.Rows = append(res.Rows, page.Data...)
		res.ProcessedRows = page.Stats.ProcessedRows
		req = nil
		if page.NextURI != "" {
			req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, page.NextURI, nil)
		}
	}
	return res
}
