//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/lakemerge/lakemerge/change"
)

// Available reports whether this binary has the SQL engine.
func Available() bool { return true }

// Engine is an in-process DuckDB database, in memory, set up for
// transforms: Trino's integer division, the UTC time zone, the macros of
// AthenaFunctions, no access to files or the network, and its
// configuration locked. It is safe for concurrent use; each Program has a
// connection of its own.
type Engine struct {
	connector *duckdb.Connector
	db        *sql.DB
	version   string
	// unstable are the scalar functions whose result is not a function of
	// their arguments (random, now); aggregates and tables the aggregate
	// and table functions. From duckdb_functions().
	unstable, aggregates, tables map[string]bool
	views                        atomic.Int64 // numbers the programs' input views
}

// Open starts an Engine; Close it when done.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Threads <= 0 {
		opts.Threads = DefaultThreads
	}
	if opts.MemoryLimitMB <= 0 {
		opts.MemoryLimitMB = DefaultMemoryLimitMB
	}
	// Settings that hold from the start: no file or network access (an
	// expression cannot read a file, an extension is never downloaded),
	// the order of rows kept, Arrow output in the types Transform expects.
	dsn := fmt.Sprintf("?threads=%d&memory_limit=%dMB&enable_external_access=false"+
		"&autoinstall_known_extensions=false&autoload_known_extensions=false"+
		"&integer_division=true&preserve_insertion_order=true"+
		"&produce_arrow_string_view=false&arrow_large_buffer_size=false",
		opts.Threads, opts.MemoryLimitMB)
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("start DuckDB: %w", err)
	}
	e := &Engine{connector: connector, db: sql.OpenDB(connector)}
	if err := e.setup(ctx); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

func (e *Engine) setup(ctx context.Context) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("start DuckDB: %w", err)
	}
	defer conn.Close()
	// TimeZone exists once the ICU extension is loaded, after the
	// database opened, so it is set here rather than in the DSN.
	stmts := []string{"SET GLOBAL TimeZone = 'UTC'", scanAll}
	for _, m := range AthenaFunctions() {
		stmts = append(stmts, fmt.Sprintf("CREATE MACRO %s(%s) AS %s", m.Name, strings.Join(m.Params, ", "), m.SQL))
	}
	stmts = append(stmts, "SET GLOBAL lock_configuration = true")
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("set up DuckDB: %s: %w", s, err)
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&e.version); err != nil {
		return fmt.Errorf("set up DuckDB: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT function_name, function_type, coalesce(stability, '') FROM duckdb_functions()")
	if err != nil {
		return fmt.Errorf("list DuckDB's functions: %w", err)
	}
	defer rows.Close()
	e.unstable, e.aggregates, e.tables = map[string]bool{}, map[string]bool{}, map[string]bool{}
	scalar := map[string]bool{}
	for rows.Next() {
		var name, kind, stability string
		if err := rows.Scan(&name, &kind, &stability); err != nil {
			return fmt.Errorf("list DuckDB's functions: %w", err)
		}
		switch kind {
		case "scalar", "macro":
			scalar[name] = true
			if stability == "VOLATILE" || stability == "CONSISTENT_WITHIN_QUERY" {
				e.unstable[name] = true
			}
		case "aggregate":
			e.aggregates[name] = true
		case "table", "table_macro":
			e.tables[name] = true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list DuckDB's functions: %w", err)
	}
	// A name that is also a scalar function is called as one.
	for name := range scalar {
		delete(e.aggregates, name)
		delete(e.tables, name)
	}
	return nil
}

// scanAll turns off the optimizer that drops columns a query does not use
// from the scans under it. DuckDB 1.5's C API registers an Arrow stream
// (duckdb_arrow_scan) with projection pushdown on, but hands the scan the
// stream's full batches: when the optimizer narrows the scan to some of
// the columns, it reads the first ones of the batch in their place (wrong
// values, or a crash when the types differ). With the optimizer off, the
// scan reads every column of the relation, which Transform narrows to the
// columns the expressions name beforehand; TestScanReadsTheRightColumns
// holds the cases that broke (a subset of the columns, a column that
// constant folding removed).
const scanAll = "SET GLOBAL disabled_optimizers = 'unused_columns'"

// Version is the DuckDB version the engine runs, like "v1.5.6".
func (e *Engine) Version() string { return e.version }

// Close closes the database. Programs compiled by e must be closed first.
func (e *Engine) Close() error {
	return errors.Join(e.db.Close(), e.connector.Close())
}

// item is one parsed expression of a Definition.
type item struct {
	name   string   // the curated column's name ("" for where)
	source string   // the base column it is a bare reference of, or ""
	canon  string   // DuckDB's text of the expression, without its name
	refs   []string // the columns it names
}

// Parse checks the text of def without the base columns: each item is one
// expression with a name, names are unique, nothing is an aggregate, a
// window function, a subquery or a table function. Compile does the same
// and more; Parse is for tables whose columns are known only when their
// files are read. Problems are Errors; the Parsed returned with them has
// an entry per select item still, with the name "" where the item has a
// problem. Other errors are DuckDB failing, and come without a Parsed.
func (e *Engine) Parse(ctx context.Context, def Definition) (*Parsed, error) {
	items, where, errs, err := e.parse(ctx, def)
	if err != nil {
		return nil, err
	}
	p := &Parsed{}
	seen := map[string]bool{}
	for i, it := range append(items, where) {
		if i < len(items) {
			p.Names = append(p.Names, it.name)
			p.Sources = append(p.Sources, it.source)
		}
		for _, r := range it.refs {
			if !seen[r] {
				seen[r] = true
				p.Refs = append(p.Refs, r)
			}
		}
	}
	if len(errs) > 0 {
		return p, errs
	}
	return p, nil
}

// parse parses every expression of def. items holds one entry per select
// item (zero for those with problems), where is zero without a where.
// err is a failure of DuckDB itself.
func (e *Engine) parse(ctx context.Context, def Definition) (items []item, where item, errs Errors, err error) {
	names := map[string]int{}
	for i, text := range def.Select {
		it, msg, err := e.parseExpr(ctx, text, false)
		if err != nil {
			return nil, item{}, nil, err
		}
		if msg == "" {
			if prev, dup := names[strings.ToLower(it.name)]; dup {
				msg = fmt.Sprintf("column name %s is also select[%d]'s (names are compared ignoring case, as Athena does)", it.name, prev)
			} else {
				names[strings.ToLower(it.name)] = i
				msg = checkName(it.name)
			}
		}
		if msg != "" {
			errs = append(errs, ExprError{Item: i, Msg: msg})
			it = item{}
		}
		items = append(items, it)
	}
	if def.Where != "" {
		it, msg, err := e.parseExpr(ctx, def.Where, true)
		if err != nil {
			return nil, item{}, nil, err
		}
		if msg != "" {
			errs = append(errs, ExprError{Item: WhereItem, Msg: msg})
		} else {
			where = it
		}
	}
	return items, where, errs, nil
}

// parseExpr parses one expression by DuckDB's parser (json_serialize_sql
// of "SELECT " + text) and checks its syntax tree. msg is the problem with
// the expression, "" for none.
func (e *Engine) parseExpr(ctx context.Context, text string, isWhere bool) (it item, msg string, err error) {
	var out string
	if err := e.db.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", "SELECT "+text).Scan(&out); err != nil {
		return item{}, "", fmt.Errorf("parse %q: %w", text, err)
	}
	tree, err := decodeJSON(out)
	if err != nil {
		return item{}, "", fmt.Errorf("parse %q: %w", text, err)
	}
	one := "one expression"
	if isWhere {
		one = "one condition"
	}
	if tree["error"] == true {
		msg := errorMessage(tree)
		if strings.Contains(msg, "Only SELECT statements") {
			// "x; DROP TABLE t": a second statement that is no query.
			return item{}, fmt.Sprintf("want %s, not several statements", one), nil
		}
		return item{}, "not valid SQL: " + msg, nil
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return item{}, fmt.Sprintf("want %s, not %d statements", one, len(stmts)), nil
	}
	node := field(stmts[0], "node")
	if typ := str(node, "type"); typ != "SELECT_NODE" {
		return item{}, fmt.Sprintf("want %s, not a query (%s)", one, strings.ToLower(strings.TrimSuffix(typ, "_NODE"))), nil
	}
	list, _ := field(node, "select_list").([]any)
	if len(list) != 1 {
		if isWhere {
			return item{}, fmt.Sprintf("want one condition, not %d expressions: join conditions with AND or OR", len(list)), nil
		}
		return item{}, fmt.Sprintf("want one expression, not %d: give each column its own select item", len(list)), nil
	}
	if str(field(node, "from_table"), "type") != "EMPTY" || field(node, "where_clause") != nil ||
		len(anyList(field(node, "group_expressions"))) > 0 || field(node, "having") != nil ||
		field(node, "qualify") != nil || len(anyList(field(node, "modifiers"))) > 0 ||
		len(anyList(field(field(node, "cte_map"), "map"))) > 0 || field(node, "sample") != nil {
		return item{}, fmt.Sprintf("want %s, not a query: no FROM, WHERE, GROUP BY, ORDER BY, LIMIT, DISTINCT or WITH", one), nil
	}
	expr, _ := list[0].(map[string]any)
	alias := str(expr, "alias")
	if isWhere && alias != "" {
		return item{}, "a condition has no name: drop AS " + alias, nil
	}
	w := walker{e: e, seen: map[string]bool{}}
	w.walk(expr, nil)
	if len(w.problems) > 0 {
		return item{}, strings.Join(w.problems, "; "), nil
	}
	it = item{name: alias, refs: w.refs}
	if str(expr, "class") == "COLUMN_REF" {
		if names := anyList(expr["column_names"]); len(names) == 1 {
			if n, _ := names[0].(string); !sqlValueFunctions[strings.ToLower(n)] {
				it.source = n
				if it.name == "" {
					it.name = n
				}
			}
		}
	}
	if it.name == "" && !isWhere {
		return item{}, fmt.Sprintf("the column needs a name: write %s AS name", strings.TrimSpace(text)), nil
	}
	// DuckDB's own text of the expression, without the name: comments
	// gone, every operation in parentheses, safe to embed in a query.
	expr["alias"] = ""
	js, err := json.Marshal(tree)
	if err != nil {
		return item{}, "", fmt.Errorf("parse %q: %w", text, err)
	}
	var canon string
	if err := e.db.QueryRowContext(ctx, "SELECT json_deserialize_sql(?::VARCHAR::JSON)", string(js)).Scan(&canon); err != nil {
		return item{}, "", fmt.Errorf("print %q: %w", text, err)
	}
	var ok bool
	if it.canon, ok = strings.CutPrefix(canon, "SELECT "); !ok {
		return item{}, "", fmt.Errorf("print %q: DuckDB printed %q", text, canon)
	}
	return it, "", nil
}

// walker checks a parsed expression and collects the columns it names.
type walker struct {
	e        *Engine
	refs     []string
	seen     map[string]bool
	problems []string
}

func (w *walker) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(w.problems, msg) {
		w.problems = append(w.problems, msg)
	}
}

// walk visits n; bound are the names of the lambda parameters in scope.
func (w *walker) walk(n any, bound map[string]bool) {
	switch n := n.(type) {
	case []any:
		for _, c := range n {
			w.walk(c, bound)
		}
		return
	case map[string]any:
		switch str(n, "class") {
		case "SUBQUERY":
			w.problem("subqueries are not row-level: a curated column is computed from its own row alone")
			return
		case "WINDOW":
			w.problem("window functions (OVER) are not row-level: a curated column is computed from its own row alone")
			return
		case "STAR":
			w.problem("* and COLUMNS(...) are not allowed: name each column")
			return
		case "PARAMETER":
			w.problem("parameters ($1, ?) are not allowed")
			return
		case "COLUMN_REF":
			names := anyList(n["column_names"])
			if len(names) != 1 {
				parts := make([]string, len(names))
				for i, p := range names {
					parts[i], _ = p.(string)
				}
				w.problem("qualified name %s: name the column alone", strings.Join(parts, "."))
				return
			}
			name, _ := names[0].(string)
			switch {
			case bound[name], sqlValueFunctions[strings.ToLower(name)]:
			case change.IsSystemColumn(name) || name == ColPass || strings.HasPrefix(name, reservedPrefix):
				w.problem("%s is not a column of the base row (lakemerge's system columns cannot be used)", name)
			case !w.seen[name]:
				w.seen[name] = true
				w.refs = append(w.refs, name)
			}
			return
		case "FUNCTION":
			name := strings.ToLower(str(n, "function_name"))
			switch {
			case w.e.aggregates[name]:
				w.problem("aggregate function %s is not row-level: a curated column is computed from its own row alone", name)
			case w.e.tables[name]:
				w.problem("table function %s cannot be used in an expression", name)
			}
		case "LAMBDA":
			inner := map[string]bool{}
			for k, v := range bound {
				inner[k] = v
			}
			w.params(n["lhs"], inner)
			w.walk(n["expr"], inner)
			return
		}
		for _, v := range n {
			w.walk(v, bound)
		}
	}
}

// params adds the parameter names of a lambda's left-hand side to bound.
func (w *walker) params(n any, bound map[string]bool) {
	switch n := n.(type) {
	case []any:
		for _, c := range n {
			w.params(c, bound)
		}
	case map[string]any:
		if str(n, "class") == "COLUMN_REF" {
			for _, p := range anyList(n["column_names"]) {
				if s, ok := p.(string); ok {
					bound[s] = true
				}
			}
			return
		}
		for _, v := range n {
			w.params(v, bound)
		}
	}
}

// Program is a compiled Definition: it turns change batches of the base
// table into curated batches. Its methods may be called from several
// goroutines; Transform calls run one at a time.
type Program struct {
	mu    sync.Mutex
	conn  *sql.Conn
	query string
	// view is the name the input is registered under while a query runs:
	// one per program, as DuckDB's C API makes the view in the database's
	// catalog, where every connection sees it.
	view string
	// in is the schema of the relation the query reads: the base columns
	// the definition was compiled against, then __lm_row.
	in      *arrow.Schema
	cols    []change.Column
	sources []string
	where   bool
}

// Relation and column names of the query a Program runs.
const (
	viewPrefix = reservedPrefix + "in_"
	rowCol     = reservedPrefix + "row"
	whereCol   = reservedPrefix + "where"
)

// sliceRows is how many rows of a batch DuckDB reads at a time: one unit
// of its parallel work.
const sliceRows = 16 << 10

// Compile checks def against the base columns and prepares it: every
// problem found is in the returned Errors (ExprError per select item and
// where). Besides what Parse checks, each expression must bind to the base
// columns (known columns, matching types), be row-level in its plan, be
// deterministic (no random(), now(), current_date: a rebuild must give the
// same rows), and have a type lakemerge stores; where must be a condition.
// Other errors are DuckDB failing. Close the Program when done.
func (e *Engine) Compile(ctx context.Context, base []change.Column, def Definition) (*Program, error) {
	items, where, errs, err := e.parse(ctx, def)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, 0, len(base)+1)
	for _, c := range base {
		if strings.HasPrefix(c.Name, reservedPrefix) || change.IsSystemColumn(c.Name) {
			return nil, fmt.Errorf("compile: base column %s: the name is lakemerge's own", c.Name)
		}
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	fields = append(fields, arrow.Field{Name: rowCol, Type: arrow.PrimitiveTypes.Int64})
	p := &Program{in: arrow.NewSchema(fields, nil), where: def.Where != "",
		view: fmt.Sprintf("%s%d", viewPrefix, e.views.Add(1))}
	if p.conn, err = e.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			p.conn.Close()
		}
	}()
	empty, err := array.NewRecordReader(p.in, nil)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	defer empty.Release()
	var binds Errors
	err = p.withInput(ctx, empty, func(dc *duckdb.Conn) error {
		var selects []string
		for i, it := range items {
			if it.canon == "" {
				continue // a problem found by parse
			}
			t, msg, err := e.bind(ctx, dc, p.view, it.canon)
			if err != nil {
				return err
			}
			var typ arrow.DataType
			cast := ""
			if msg == "" {
				if typ, cast, msg = storedType(t); msg != "" {
					msg = fmt.Sprintf("column %s %s", it.name, msg)
				}
			}
			if msg != "" {
				binds = append(binds, ExprError{Item: i, Msg: msg})
				continue
			}
			p.cols = append(p.cols, change.Column{Name: it.name, Type: typ})
			p.sources = append(p.sources, it.source)
			sel := "(" + it.canon + ")"
			if cast != "" {
				sel = fmt.Sprintf("CAST(%s AS %s)", sel, cast)
			}
			selects = append(selects, fmt.Sprintf("%s AS c%d", sel, i))
		}
		if where.canon != "" {
			t, msg, err := e.bind(ctx, dc, p.view, where.canon)
			if err != nil {
				return err
			}
			if msg == "" && t.ID != "BOOLEAN" {
				msg = fmt.Sprintf("want a condition (true or false), not %s", t.Name())
			}
			if msg != "" {
				binds = append(binds, ExprError{Item: WhereItem, Msg: msg})
			}
			selects = append(selects, fmt.Sprintf("(%s) AS %s", where.canon, whereCol))
		}
		if len(errs)+len(binds) > 0 {
			return nil
		}
		p.query = fmt.Sprintf("SELECT %s, %s FROM %s", strings.Join(selects, ", "), rowCol, p.view)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if errs = append(errs, binds...); len(errs) == 0 {
		// The relation the query runs over holds only the base columns the
		// expressions name (in base order) and the row number: DuckDB then
		// converts no column it does not need, and its scan reads every
		// column of the relation (see scanAll).
		used := map[string]bool{}
		for _, it := range append(items, where) {
			for _, r := range it.refs {
				used[r] = true
			}
		}
		var in []arrow.Field
		for _, f := range p.in.Fields() {
			if used[f.Name] || f.Name == rowCol {
				in = append(in, f)
			}
		}
		p.in = arrow.NewSchema(in, nil)
		empty, err := array.NewRecordReader(p.in, nil)
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		defer empty.Release()
		// The whole query binds over it as its parts did.
		err = p.withInput(ctx, empty, func(dc *duckdb.Conn) error {
			if msg, err := e.checkPlan(ctx, dc, p.query); err != nil || msg != "" {
				return fmt.Errorf("compile %s: %v%s", p.query, err, msg)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b ExprError) int {
			if a.Item == WhereItem || b.Item == WhereItem {
				return b.Item - a.Item
			}
			return a.Item - b.Item
		})
		return nil, errs
	}
	ok = true
	return p, nil
}

// bind binds "SELECT (expr) FROM view", checks its plan and returns the
// expression's type, or msg, the problem with it.
func (e *Engine) bind(ctx context.Context, dc *duckdb.Conn, view, expr string) (duckType, string, error) {
	query := fmt.Sprintf("SELECT (%s) AS v FROM %s", expr, view)
	if msg, err := e.checkPlan(ctx, dc, query); err != nil || msg != "" {
		return duckType{}, msg, err
	}
	var t string
	if err := queryRow(ctx, dc, "SELECT column_type FROM (DESCRIBE "+query+")", nil, &t); err != nil {
		return duckType{}, "", fmt.Errorf("describe %s: %w", query, err)
	}
	return parseType(t), "", nil
}

// checkPlan binds query (json_serialize_plan) and checks its plan: only
// projections over the one scan of the input, no function whose result
// varies. msg is the problem with the query, "" for none.
func (e *Engine) checkPlan(ctx context.Context, dc *duckdb.Conn, query string) (string, error) {
	var out string
	if err := queryRow(ctx, dc, "SELECT json_serialize_plan($1::VARCHAR)::VARCHAR", query, &out); err != nil {
		return "", fmt.Errorf("bind %s: %w", query, err)
	}
	tree, err := decodeJSON(out)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", query, err)
	}
	if tree["error"] == true {
		return errorMessage(tree), nil
	}
	plans := anyList(tree["plans"])
	if len(plans) != 1 {
		return "", fmt.Errorf("bind %s: %d plans", query, len(plans))
	}
	c := planChecker{e: e}
	c.check(plans[0])
	switch {
	case len(c.problems) > 0:
		return strings.Join(c.problems, "; "), nil
	case c.scans != 1:
		return "not row-level: a curated column is computed from its own row alone", nil
	}
	return "", nil
}

// queryRow runs a query with at most one argument (nil for none) on a
// DuckDB connection and scans the one value of its first row into dst.
func queryRow(ctx context.Context, dc *duckdb.Conn, query string, arg any, dst *string) error {
	var args []driver.NamedValue
	if arg != nil {
		args = []driver.NamedValue{{Ordinal: 1, Value: arg}}
	}
	rows, err := dc.QueryContext(ctx, query, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err != nil {
		return err
	}
	s, ok := vals[0].(string)
	if !ok {
		return fmt.Errorf("got %T, not text", vals[0])
	}
	*dst = s
	return nil
}

// planChecker walks a serialized logical plan.
type planChecker struct {
	e        *Engine
	scans    int
	problems []string
}

func (c *planChecker) problem(msg string) {
	if !slices.Contains(c.problems, msg) {
		c.problems = append(c.problems, msg)
	}
}

func (c *planChecker) check(n any) {
	switch n := n.(type) {
	case []any:
		for _, x := range n {
			c.check(x)
		}
		return
	case map[string]any:
		switch typ := str(n, "type"); {
		case typ == "LOGICAL_PROJECTION":
		case typ == "LOGICAL_GET":
			if str(n, "name") == "arrow_scan" {
				c.scans++
			} else {
				c.problem("reads a table (" + str(n, "name") + "): a curated column is computed from its own row alone")
			}
		case typ == "LOGICAL_AGGREGATE_AND_GROUP_BY":
			c.problem("aggregates are not row-level: a curated column is computed from its own row alone")
		case typ == "LOGICAL_WINDOW":
			c.problem("window functions are not row-level: a curated column is computed from its own row alone")
		case strings.HasPrefix(typ, "LOGICAL_") && (strings.Contains(typ, "JOIN") || strings.Contains(typ, "CROSS_PRODUCT")):
			c.problem("subqueries are not row-level: a curated column is computed from its own row alone")
		case strings.HasPrefix(typ, "LOGICAL_"):
			c.problem(fmt.Sprintf("not row-level (its plan has %s)", strings.ToLower(strings.TrimPrefix(typ, "LOGICAL_"))))
		case str(n, "expression_class") == "BOUND_FUNCTION":
			if name := str(n, "name"); c.e.unstable[name] {
				c.problem(fmt.Sprintf("%s() gives another result each time it runs, so a rebuild would not give the same rows: not allowed", name))
			}
		}
		for _, v := range n {
			c.check(v)
		}
	}
}

// withInput registers in as the relation p.view of p's connection for
// the duration of fn, which gets the DuckDB connection.
func (p *Program) withInput(ctx context.Context, in array.RecordReader, fn func(dc *duckdb.Conn) error) error {
	return p.conn.Raw(func(c any) error {
		dc, ok := c.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("not a DuckDB connection: %T", c)
		}
		a, err := duckdb.NewArrowFromConn(dc)
		if err != nil {
			return err
		}
		release, err := a.RegisterView(in, p.view)
		if err != nil {
			return fmt.Errorf("register the input: %w", err)
		}
		err = fn(dc)
		// The view refers to the stream that release frees: drop it first.
		_, derr := dc.ExecContext(context.WithoutCancel(ctx), "DROP VIEW "+p.view, nil)
		release()
		if derr != nil {
			derr = fmt.Errorf("drop the input: %w", derr)
		}
		return errors.Join(err, derr)
	})
}

// Columns are the curated columns, in select order.
func (p *Program) Columns() []change.Column { return slices.Clone(p.cols) }

// Sources tells, per curated column, the base column it is a bare
// reference of (renamed or not), or "" when it is computed.
func (p *Program) Sources() []string { return slices.Clone(p.sources) }

// Query is the SQL the program runs per batch (for logs and tests).
func (p *Program) Query() string { return p.query }

// Close releases the program's connection.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn.Close()
}

// Transform evaluates the program over one change batch. The batch holds
// the base columns the program was compiled against, with the same types
// (others are ignored), and the system columns: _op is required; a _keep
// column must not mark any column of an insert or update as kept (the
// transform needs whole rows: resolve partial row images against the
// stored row first).
//
// The result has one row per input row, in input order: the curated
// columns (Columns), the batch's system columns but _keep (shared with the
// batch, not copied), and ColPass. For deletes, only curated columns that
// are bare references of key columns are meaningful. The batch is
// borrowed; the result is the caller's to release; its curated columns
// are allocated from mem.
//
// An expression that fails on a row (a CAST of text that is no number)
// fails the batch with DuckDB's message, which names the value.
func (p *Program) Transform(ctx context.Context, mem memory.Allocator, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sch := batch.Schema()
	n := int(batch.NumRows())
	opIdx := sch.FieldIndices(change.ColOp)
	if len(opIdx) != 1 || batch.Column(opIdx[0]).DataType().ID() != arrow.INT8 {
		return nil, fmt.Errorf("transform: the batch has no int8 %s column", change.ColOp)
	}
	ops := batch.Column(opIdx[0]).(*array.Int8).Int8Values()
	if err := checkWhole(batch, ops); err != nil {
		return nil, err
	}

	// The relation DuckDB reads: the compiled base columns and the row
	// number, in slices of sliceRows.
	cols := make([]arrow.Array, 0, p.in.NumFields())
	for _, f := range p.in.Fields()[:p.in.NumFields()-1] {
		idx := sch.FieldIndices(f.Name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("transform: the batch has no column %s", f.Name)
		}
		c := batch.Column(idx[0])
		if !arrow.TypeEqual(c.DataType(), f.Type) {
			return nil, fmt.Errorf("transform: column %s is %s, compiled as %s: compile again", f.Name, c.DataType(), f.Type)
		}
		cols = append(cols, c)
	}
	rb := array.NewInt64Builder(mem)
	rb.Reserve(n)
	for i := range n {
		rb.UnsafeAppend(int64(i))
	}
	rowNums := rb.NewArray()
	rb.Release()
	defer rowNums.Release()
	cols = append(cols, rowNums)
	whole := array.NewRecordBatch(p.in, cols, int64(n))
	defer whole.Release()
	var parts []arrow.RecordBatch
	for lo := 0; lo < n; lo += sliceRows {
		parts = append(parts, whole.NewSlice(int64(lo), int64(min(lo+sliceRows, n))))
	}
	in, err := array.NewRecordReader(p.in, parts)
	for _, s := range parts {
		s.Release()
	}
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	defer in.Release()

	// The curated columns and where, chunk by chunk as DuckDB returns them.
	var chunks []arrow.RecordBatch
	defer func() {
		for _, c := range chunks {
			c.Release()
		}
	}()
	if n > 0 {
		err = p.withInput(ctx, in, func(dc *duckdb.Conn) error {
			a, err := duckdb.NewArrowFromConn(dc)
			if err != nil {
				return err
			}
			out, err := a.QueryContext(ctx, p.query)
			if err != nil {
				return err
			}
			defer out.Release()
			next := int64(0)
			for out.Next() {
				rec := out.RecordBatch()
				// DuckDB keeps the input's order (preserve_insertion_order);
				// the row numbers prove it.
				for i, v := range rec.Column(int(rec.NumCols()) - 1).(*array.Int64).Int64Values() {
					if v != next+int64(i) {
						return fmt.Errorf("DuckDB returned row %d where row %d belongs", v, next+int64(i))
					}
				}
				next += rec.NumRows()
				rec.Retain()
				chunks = append(chunks, rec)
			}
			if err := out.Err(); err != nil {
				return err
			}
			if next != int64(n) {
				return fmt.Errorf("DuckDB returned %d rows of %d", next, n)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("transform: %w", err)
		}
	}
	return p.assemble(mem, batch, ops, chunks)
}

// checkWhole fails when a row other than a delete has a column kept from
// the stored row (change.ColKeep).
func checkWhole(batch arrow.RecordBatch, ops []int8) error {
	idx := batch.Schema().FieldIndices(change.ColKeep)
	if len(idx) == 0 {
		return nil
	}
	keep, ok := batch.Column(idx[0]).(*array.Binary)
	if !ok {
		return fmt.Errorf("transform: column %s is not binary", change.ColKeep)
	}
	for i := range keep.Len() {
		if keep.IsValid(i) && change.Op(ops[i]) != change.OpDelete && slices.ContainsFunc(keep.Value(i), func(b byte) bool { return b != 0 }) {
			return fmt.Errorf("transform: row %d is a partial row image (%s marks columns kept from the stored row); the transform needs whole rows", i, change.ColKeep)
		}
	}
	return nil
}

// assemble builds the result of Transform from DuckDB's chunks.
func (p *Program) assemble(mem memory.Allocator, batch arrow.RecordBatch, ops []int8, chunks []arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := len(ops)
	fields := make([]arrow.Field, 0, len(p.cols)+4)
	var out []arrow.Array
	defer func() {
		for _, a := range out {
			a.Release()
		}
	}()
	column := func(j int, typ arrow.DataType) (arrow.Array, error) {
		if len(chunks) == 0 {
			return array.MakeArrayOfNull(mem, typ, 0), nil
		}
		parts := make([]arrow.Array, len(chunks))
		for k, c := range chunks {
			parts[k] = c.Column(j)
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, err
		}
		if !arrow.TypeEqual(a.DataType(), typ) {
			a.Release()
			return nil, fmt.Errorf("DuckDB returned %s for a %s column", parts[0].DataType(), typ)
		}
		return a, nil
	}
	for j, c := range p.cols {
		a, err := column(j, c.Type)
		if err != nil {
			return nil, fmt.Errorf("transform: column %s: %w", c.Name, err)
		}
		out = append(out, a)
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	for i, f := range batch.Schema().Fields() {
		if change.IsSystemColumn(f.Name) && f.Name != change.ColKeep {
			a := batch.Column(i)
			a.Retain()
			out = append(out, a)
			fields = append(fields, f)
		}
	}
	var where *array.Boolean
	if p.where && n > 0 {
		a, err := column(len(p.cols), arrow.FixedWidthTypes.Boolean)
		if err != nil {
			return nil, fmt.Errorf("transform: where: %w", err)
		}
		defer a.Release()
		where = a.(*array.Boolean)
	}
	pb := array.NewBooleanBuilder(mem)
	defer pb.Release()
	pb.Reserve(n)
	for i, op := range ops {
		pass := change.Op(op) != change.OpDelete
		if where != nil {
			pass = pass && where.IsValid(i) && where.Value(i)
		}
		pb.UnsafeAppend(pass)
	}
	out = append(out, pb.NewArray())
	fields = append(fields, arrow.Field{Name: ColPass, Type: arrow.FixedWidthTypes.Boolean})
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), out, int64(n))
	return rec, nil
}

// decodeJSON decodes DuckDB's JSON keeping numbers as they are written
// (query locations are 2^64-1, beyond a float64).
func decodeJSON(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode DuckDB's JSON: %w", err)
	}
	return v, nil
}

// maxCandidates is how many of the functions DuckDB suggests for a call
// that matches none an error message keeps.
const maxCandidates = 4

// errorMessage is the message of a serialization that failed.
func errorMessage(tree map[string]any) string {
	msg := str(tree, "error_message")
	if msg == "" {
		msg = "DuckDB gave no reason"
	}
	// DuckDB's multi-line messages (candidate columns, the query with a
	// caret) are kept on one line, at most maxCandidates candidate
	// functions of a list, and its FROM is lakemerge's.
	var lines []string
	candidates := -1
	for _, l := range strings.Split(msg, "\n") {
		switch l = strings.TrimSpace(l); {
		case l == "Candidate functions:":
			candidates = 0
		case candidates >= 0 && strings.Contains(l, " -> "):
			candidates++
			if candidates > maxCandidates {
				continue
			}
		}
		lines = append(lines, l)
	}
	if candidates > maxCandidates {
		lines = append(lines, fmt.Sprintf("(and %d more)", candidates-maxCandidates))
	}
	msg = strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
	return strings.ReplaceAll(msg, " not found in FROM clause!", " is not a column of the base table.")
}

func field(n any, key string) any {
	m, _ := n.(map[string]any)
	return m[key]
}

func str(n any, key string) string {
	s, _ := field(n, key).(string)
	return s
}

func num(n any, key string) int {
	v, _ := field(n, key).(json.Number)
	i, _ := v.Int64()
	return int(i)
}

func anyList(n any) []any {
	l, _ := n.([]any)
	return l
}
