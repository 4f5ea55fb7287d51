package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/prepared/transform"
)

// The prepared tables of a job file are checked when it is loaded: their
// SQL with the SQL engine (prepared/transform) against the base table's
// columns, then what needs the curated columns (prepared.Check). Problems
// are job-file errors with their lines, like config's. What can be checked
// depends on what the job file tells of the base columns:
//
//   - dms-csv without a header: columns lists them all; everything is
//     checked.
//   - dms-csv with a header: columns types some; the others are strings,
//     as the decoder reads them, so a column an expression names that
//     columns does not list is checked as a string (a misspelled one is
//     found by the first run that reads the header).
//   - debezium-json: the events' schema types the columns, so only the
//     text is checked (names, row-level, key, partition and sort columns);
//     types are checked by the first run.

// preparedTable is what the check found out about one prepared table, for
// `lakemerge check`.
type preparedTable struct {
	Table       string          `json:"table"`  // the base table's name
	Target      string          `json:"target"` // database.table
	Format      string          `json:"format"`
	Mode        string          `json:"mode"`
	Columns     []curatedColumn `json:"columns"`
	Key         []string        `json:"key,omitempty"` // the curated key columns (mirror, history)
	Fingerprint string          `json:"fingerprint"`
	// Checked says how far the load checked it: "all", or what waits for
	// the first run.
	Checked string `json:"checked"`
}

type curatedColumn struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"` // empty until the first run (debezium-json)
	// From is the base column it is a bare reference of.
	From string `json:"from,omitempty"`
}

// checkPrepared checks every prepared table of job. file names the job
// file in messages. Problems of the job file are config.Errors, sorted by
// line; a binary without the SQL engine makes one per table that has
// prepared tables. Other errors are the engine failing.
func checkPrepared(ctx context.Context, job *config.Job, file string) ([]preparedTable, error) {
	var engine *transform.Engine
	defer func() {
		if engine != nil {
			engine.Close()
		}
	}()
	var out []preparedTable
	var errs config.Errors
	for ti, t := range job.Tables {
		if len(t.Prepared) == 0 {
			continue
		}
		if engine == nil {
			var err error
			engine, err = transform.Open(ctx, transform.Options{})
			if errors.Is(err, transform.ErrNoEngine) {
				for tj, u := range job.Tables[ti:] {
					if len(u.Prepared) > 0 {
						errs = append(errs, config.FieldError{File: file, Line: u.Prepared[0].Line,
							Path: fmt.Sprintf("tables[%d].prepared", ti+tj), Msg: err.Error()})
					}
				}
				return nil, errs
			}
			if err != nil {
				return nil, err
			}
		}
		for pi, p := range t.Prepared {
			pt, problems, err := checkOne(ctx, engine, t, p, file, fmt.Sprintf("tables[%d].prepared[%d]", ti, pi))
			if err != nil {
				return nil, fmt.Errorf("check tables[%d].prepared[%d]: %w", ti, pi, err)
			}
			errs = append(errs, problems...)
			out = append(out, pt)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b config.FieldError) int { return a.Line - b.Line })
		return nil, errs
	}
	return out, nil
}

// definition translates a job file's prepared table.
func definition(p config.Prepared) prepared.Definition {
	d := prepared.Definition{Mode: prepared.Mode(p.Mode), Format: p.Target.Format, Where: p.Where.SQL}
	for _, s := range p.Select {
		d.Select = append(d.Select, s.SQL)
	}
	for _, f := range p.PartitionBy {
		d.PartitionBy = append(d.PartitionBy, prepared.Partition{Transform: f.Transform, Column: f.Column, Param: f.Param})
	}
	for _, f := range p.SortBy {
		d.SortBy = append(d.SortBy, prepared.SortKey{Column: f.Column, Descending: f.Descending})
	}
	return d
}

// checkOne checks prepared table p of base table t (at path in the job
// file). It reports every problem at once: the checks that need the
// curated columns run over the items without problems of their own (an
// item with a problem counts by its name, its type unknown).
func checkOne(ctx context.Context, engine *transform.Engine, t config.Table, p config.Prepared, file, path string) (preparedTable, config.Errors, error) {
	def := definition(p)
	sqlDef := transform.Definition{Select: def.Select, Where: def.Where}
	pt := preparedTable{Table: t.Name, Target: p.Target.Database + "." + p.Target.Table, Format: p.Target.Format,
		Mode: p.Mode, Fingerprint: prepared.Fingerprint(def), Checked: "all"}
	var errs config.Errors
	bad := map[int]bool{} // select items with a problem; -1: where
	// problems records the problems err lists, or returns err.
	problems := func(err error) error {
		var xe transform.Errors
		if !errors.As(err, &xe) {
			return err
		}
		for _, x := range xe {
			if bad[x.Item] {
				continue // Parse and Compile both found it
			}
			bad[x.Item] = true
			fe := config.FieldError{File: file, Line: p.Where.Line, Path: path + ".where", Msg: x.Msg}
			if x.Item != transform.WhereItem {
				fe.Line, fe.Path = p.Select[x.Item].Line, fmt.Sprintf("%s.select[%d]", path, x.Item)
			}
			errs = append(errs, fe)
		}
		return nil
	}

	parsed, err := engine.Parse(ctx, sqlDef)
	if err := problems(err); err != nil {
		return pt, nil, err
	}
	// cols are the curated columns, one per select item (pos maps them to
	// their items): the name Parse found, the type Compile found.
	cols := make([]prepared.Column, len(sqlDef.Select))
	for i := range cols {
		cols[i] = prepared.Column{Name: parsed.Names[i], Source: parsed.Sources[i]}
	}
	if t.Format == config.FormatDebezium {
		pt.Checked = "text only: the types come from the events' schema, checked by the first run"
	} else {
		base := slices.Clone(t.Columns)
		if tc := t.DMS.TimestampColumn; tc != "" && !slices.ContainsFunc(base, func(c change.Column) bool { return c.Name == tc }) {
			// The decoder adds the timestamp column as a timestamp.
			ts, _ := change.ParseType("timestamp")
			base = append(base, change.Column{Name: tc, Type: ts})
		}
		if t.DMS.Header {
			// Columns the job file does not list are read as strings.
			str, _ := change.ParseType("string")
			for _, r := range parsed.Refs {
				if !slices.ContainsFunc(base, func(c change.Column) bool { return c.Name == r }) {
					base = append(base, change.Column{Name: r, Type: str})
					pt.Checked = "all, taking the columns that columns does not list as strings; the first run checks they are in the files"
				}
			}
		}
		typed, err := compileTypes(ctx, engine, base, sqlDef, problems)
		if err != nil {
			return pt, nil, err
		}
		for i, typ := range typed {
			cols[i].Type = typ
		}
	}
	var known []prepared.Column // the columns with a name
	var pos []int               // their select items
	for i, c := range cols {
		if c.Name == "" {
			continue
		}
		if bad[i] {
			c.Type = nil // its problem may be its type
		}
		known = append(known, c)
		pos = append(pos, i)
	}
	for _, c := range known {
		cc := curatedColumn{Name: c.Name, From: c.Source}
		if c.Type != nil {
			cc.Type = change.TypeName(c.Type)
		}
		pt.Columns = append(pt.Columns, cc)
	}
	if def.Mode == prepared.Mirror || def.Mode == prepared.History {
		for _, k := range t.PrimaryKey {
			if i := slices.IndexFunc(known, func(c prepared.Column) bool { return c.Source == k }); i >= 0 {
				pt.Key = append(pt.Key, known[i].Name)
			}
		}
	}
	for _, pr := range prepared.Check(def, t.PrimaryKey, known) {
		fe := config.FieldError{File: file, Path: path + "." + pr.Field, Msg: pr.Msg}
		switch {
		case pr.Field == prepared.FieldSelect && pr.Index < 0:
			fe.Line = p.SelectLine
		case pr.Field == prepared.FieldSelect:
			item := pos[pr.Index]
			fe.Line, fe.Path = p.Select[item].Line, fmt.Sprintf("%s[%d]", fe.Path, item)
		case pr.Field == prepared.FieldPartitionBy:
			fe.Line, fe.Path = p.PartitionBy[pr.Index].Line, fmt.Sprintf("%s[%d]", fe.Path, pr.Index)
		case pr.Field == prepared.FieldSortBy:
			fe.Line, fe.Path = p.SortBy[pr.Index].Line, fmt.Sprintf("%s[%d]", fe.Path, pr.Index)
		}
		errs = append(errs, fe)
	}
	return pt, errs, nil
}

// compileTypes compiles def over base and returns the type of each select
// item, nil for those with a problem, which it hands to problems. The
// items without problems are compiled once more on their own when some
// have, so that their types are known.
func compileTypes(ctx context.Context, engine *transform.Engine, base []change.Column, def transform.Definition, problems func(error) error) ([]arrow.DataType, error) {
	types := make([]arrow.DataType, len(def.Select))
	prog, err := engine.Compile(ctx, base, def)
	if err == nil {
		for i, c := range prog.Columns() {
			types[i] = c.Type
		}
		return types, prog.Close()
	}
	if err := problems(err); err != nil {
		return nil, err
	}
	var xe transform.Errors
	errors.As(err, &xe)
	var good transform.Definition
	var items []int
	for i, s := range def.Select {
		if !slices.ContainsFunc(xe, func(x transform.ExprError) bool { return x.Item == i }) {
			good.Select = append(good.Select, s)
			items = append(items, i)
		}
	}
	if len(good.Select) == 0 {
		return types, nil
	}
	if prog, err = engine.Compile(ctx, base, good); err != nil {
		// Items can fail together that passed alone (none is known); the
		// problems are reported already.
		return types, nil
	}
	for j, c := range prog.Columns() {
		types[items[j]] = c.Type
	}
	return types, prog.Close()
}

func (a *app) checkCmd() *cobra.Command {
	var cfgPath string
	var names []string
	c := &cobra.Command{
		Use:   "check --config job.yaml [--table name]...",
		Short: "Check the job file, with the SQL of its prepared tables, and print the prepared tables' columns",
		Long: `check reads the job file as every command does and checks it: its fields and,
for each prepared table, the SQL of select and where against the base table's
columns (with DuckDB, as runs evaluate it), the key its mode needs, and its
partition and sort columns. Problems are printed with their lines, exit code 2.

On success it prints, as JSON, each prepared table's curated columns with
their types, its key, and the fingerprint of its definition. Nothing is read
from the raw zone or the warehouse.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, prep, tables, err := loadJobPrepared(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			out := struct {
				OK       bool            `json:"ok"`
				Prepared []preparedTable `json:"prepared"`
			}{OK: true, Prepared: []preparedTable{}}
			for _, p := range prep {
				if slices.ContainsFunc(tables, func(t config.Table) bool { return t.Name == p.Table }) {
					out.Prepared = append(out.Prepared, p)
				}
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "print only these tables' prepared tables (the whole file is checked)")
	return c
}
