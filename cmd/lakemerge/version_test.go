package main

import (
	"encoding/json"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// requiredVersion reads the version go.mod requires of module.
func requiredVersion(t *testing.T, module string) string {
	t.Helper()
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatalf("go.mod does not require %s", module)
	}
	return string(m[1])
}

// TestVersion: `lakemerge version --json` names the Go toolchain that
// built it and the iceberg-go and arrow-go versions go.mod pins, and the
// text form says the same. (That a build from a checkout carries its
// commit is checked on the container image: deploy/imagebuild.)
func TestVersion(t *testing.T) {
	r := clitest.Run(t, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.Stdout), &v); r.Code != 0 || err != nil {
		t.Fatalf("version --json: %v\n%s", err, r)
	}
	want := versionInfo{
		Version: v.Version, Commit: v.Commit, CommitTime: v.CommitTime, Modified: v.Modified,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		IcebergGo: requiredVersion(t, icebergModule), ArrowGo: requiredVersion(t, arrowModule),
		DuckDBGo: v.DuckDBGo,
	}
	// The SQL engine is in the binary when it was built with cgo and
	// -tags duckdb_arrow, as clitest and scripts/test.sh build it.
	if v.DuckDBGo != "" && v.DuckDBGo != requiredVersion(t, duckdbModule) {
		t.Errorf("duckdb-go %s, go.mod requires %s", v.DuckDBGo, requiredVersion(t, duckdbModule))
	}
	if v != want || v.Version == "" {
		t.Fatalf("version --json:\n%+v\nwant\n%+v", v, want)
	}
	if (v.Commit == "") != (v.CommitTime == "") {
		t.Errorf("commit %q without its time %q, or the other way round", v.Commit, v.CommitTime)
	}

	r = clitest.Run(t, "version")
	if r.Code != 0 {
		t.Fatalf("version: %s", r)
	}
	for _, line := range []string{
		"lakemerge +" + regexp.QuoteMeta(v.Version),
		"go +" + regexp.QuoteMeta(v.Go+" "+v.Platform),
		"iceberg-go +" + regexp.QuoteMeta(v.IcebergGo),
		"arrow-go +" + regexp.QuoteMeta(v.ArrowGo),
		map[bool]string{true: "sql engine +duckdb-go " + regexp.QuoteMeta(v.DuckDBGo) + ` \(DuckDB, linked in\)`,
			false: "sql engine +none: built without cgo or -tags duckdb_arrow, so prepared tables are refused"}[v.DuckDBGo != ""],
	} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(r.Stdout) {
			t.Errorf("version text has no line %q:\n%s", line, r.Stdout)
		}
	}
	if v.Commit != "" && !strings.Contains(r.Stdout, v.Commit) {
		t.Errorf("version text does not name commit %s:\n%s", v.Commit, r.Stdout)
	}
}
