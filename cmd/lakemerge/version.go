package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// versionInfo is what `lakemerge version` reports, all of it from the
// build information Go records in the binary (runtime/debug).
type versionInfo struct {
	// Version is the module version: a tag for `go install …@vX.Y.Z`, a
	// pseudo-version Go derives from the VCS for a build in a checkout,
	// or (devel).
	Version string `json:"version"`
	// Commit, CommitTime and Modified describe the VCS checkout it was
	// built from; empty when built without VCS information
	// (-buildvcs=false, a source archive).
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	IcebergGo  string `json:"iceberg_go"`
	ArrowGo    string `json:"arrow_go"`
	// DuckDBGo is the version of the SQL engine's module (duckdb-go, with
	// DuckDB linked in) that prepared tables need; empty in a binary built
	// without it (no cgo, or no -tags duckdb_arrow).
	DuckDBGo string `json:"duckdb_go,omitempty"`
}

// The modules whose versions decide what lakemerge writes.
const (
	icebergModule = "github.com/apache/iceberg-go"
	arrowModule   = "github.com/apache/arrow-go/v18"
	duckdbModule  = "github.com/duckdb/duckdb-go/v2"
)

func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		switch d.Path {
		case icebergModule:
			v.IcebergGo = m.Version
		case arrowModule:
			v.ArrowGo = m.Version
		case duckdbModule:
			v.DuckDBGo = m.Version
		}
	}
	return v
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print lakemerge's version, commit, Go version, the iceberg-go and arrow-go versions and the SQL engine",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := buildVersion()
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "lakemerge\t%s\n", v.Version)
			commit := "unknown (built without VCS information)"
			if v.Commit != "" {
				commit = v.Commit + " " + v.CommitTime
				if v.Modified {
					commit += " (modified)"
				}
			}
			fmt.Fprintf(tw, "commit\t%s\n", commit)
			fmt.Fprintf(tw, "go\t%s %s\n", v.Go, v.Platform)
			fmt.Fprintf(tw, "iceberg-go\t%s\n", v.IcebergGo)
			fmt.Fprintf(tw, "arrow-go\t%s\n", v.ArrowGo)
			engine := "none: built without cgo or -tags duckdb_arrow, so prepared tables are refused"
			if v.DuckDBGo != "" {
				engine = "duckdb-go " + v.DuckDBGo + " (DuckDB, linked in)"
			}
			fmt.Fprintf(tw, "sql engine\t%s\n", engine)
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
