//go:build !(duckdb_arrow && cgo)

package transform

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// This file stands in for the engine in a binary built without it
// (without cgo, or without -tags duckdb_arrow): Open fails with
// ErrNoEngine, so prepared tables are refused when the job file is loaded.

// Available reports whether this binary has the SQL engine.
func Available() bool { return false }

// Engine is the SQL engine; this binary has none.
type Engine struct{}

// Open fails with ErrNoEngine.
func Open(context.Context, Options) (*Engine, error) { return nil, ErrNoEngine }

// Version is "".
func (*Engine) Version() string { return "" }

// Close does nothing.
func (*Engine) Close() error { return nil }

// Parse fails with ErrNoEngine.
func (*Engine) Parse(context.Context, Definition) (*Parsed, error) { return nil, ErrNoEngine }

// Compile fails with ErrNoEngine.
func (*Engine) Compile(context.Context, []change.Column, Definition) (*Program, error) {
	return nil, ErrNoEngine
}

// Program is a compiled Definition; this binary has none.
type Program struct{}

// Columns is nil.
func (*Program) Columns() []change.Column { return nil }

// Sources is nil.
func (*Program) Sources() []string { return nil }

// Query is "".
func (*Program) Query() string { return "" }

// Close does nothing.
func (*Program) Close() error { return nil }

// Transform fails with ErrNoEngine.
func (*Program) Transform(context.Context, memory.Allocator, arrow.RecordBatch) (arrow.RecordBatch, error) {
	return nil, ErrNoEngine
}
