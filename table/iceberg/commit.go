package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"
)

// commitOn sends what tx staged to the catalog in ONE CommitTable call
// and does not retry. The commit carries state, the table state it was
// planned on, as its first requirement, then tx's own (the main branch
// still where tx's table had it, the same table UUID).
//
// Why not tx.Commit: iceberg-go's Table.doCommit answers a lost
// compare-and-swap by reloading the table, rebuilding the staged snapshot
// on the new head and sending it again (refresh-and-replay), and both
// catalogs lakemerge uses (the SQL catalog, Glue) apply a commit's updates
// to whatever metadata is current, checking only the requirements. A
// lakemerge commit must not land on a state other than the one it was
// planned on: its position deletes, its bookmark and its tombstone set
// are computed from that state, and set as a whole. So a commit that lost
// fails here, and classify puts the error in table.ErrConflict (a failed
// state requirement is a *movedError, a lost compare-and-swap
// icetable.ErrCommitFailed); the caller plans again.
//
// It returns the table as the commit left it, or base when tx staged
// nothing. after is the error of deleting the metadata files the new
// metadata log no longer lists (what tx.Commit does when
// write.metadata.delete-after-commit.enabled is set): the commit stands,
// and Vacuum deletes what is left.
func (t *Table) commitOn(ctx context.Context, base *icetable.Table, tx *icetable.Transaction, state plannedState) (landed *icetable.Table, after, err error) {
	tc, err := tx.TableCommit()
	if err != nil {
		return nil, nil, fmt.Errorf("stage commit: %w", err)
	}
	if len(tc.Updates) == 0 {
		tx.MarkCommitted()
		return base, nil, nil
	}
	reqs := append([]icetable.Requirement{state}, tc.Requirements...)
	meta, loc, err := t.cat.CommitTable(ctx, tc.Identifier, reqs, tc.Updates)
	tx.MarkCommitted()
	if err != nil {
		return nil, nil, err
	}
	landed = icetable.New(tc.Identifier, meta, loc, base.FS, t.cat)
	return landed, deleteDroppedMetadata(ctx, base, landed), nil
}

// deleteDroppedMetadata deletes the metadata files that before's metadata
// log lists and after's does not, when after's properties ask for it
// (write.metadata.delete-after-commit.enabled).
func deleteDroppedMetadata(ctx context.Context, before, after *icetable.Table) error {
	if !after.Properties().GetBool(icetable.MetadataDeleteAfterCommitEnabledKey, icetable.MetadataDeleteAfterCommitEnabledDefault) {
		return nil
	}
	kept := map[string]bool{}
	for e := range after.Metadata().PreviousFiles() {
		kept[e.MetadataFile] = true
	}
	var drop []string
	for e := range before.Metadata().PreviousFiles() {
		if !kept[e.MetadataFile] && e.MetadataFile != after.MetadataLocation() {
			drop = append(drop, e.MetadataFile)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	fs, err := after.FS(ctx)
	if err != nil {
		return fmt.Errorf("delete old metadata files: open table io: %w", err)
	}
	var errs []error
	for _, f := range drop {
		if err := fs.Remove(f); err != nil {
			errs = append(errs, fmt.Errorf("delete old metadata file %s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// plannedState is a commit requirement: the table is still in the state
// a commit was planned on. Main is the main branch's snapshot id (nil: no
// snapshot); Props are table properties and their values ("" for
// absent). iceberg-go's SQL and Glue catalogs check requirements against
// the current metadata in the process that commits, in the same
// compare-and-swap as the commit (a REST catalog would need it on the
// wire, and does not know this type).
//
// The properties are the ones a commit must not overwrite unseen:
// BookmarkProperty and TombstonesProperty. A run that commits no file
// (and no journal, which makes an empty snapshot) moves only those,
// leaving the main branch where it was; asserting the
// branch alone would let two such commits (or one and a commit with
// files) both land, the later one replacing the earlier one's bookmark
// (its raw files absorbed again) or tombstones (a deleted row brought
// back by a late change).
type plannedState struct {
	Main  *int64
	Props map[string]string
}

// stateOf is the state of tbl that a commit asserts: its main branch and
// the properties named (nil tbl: a table that does not exist, or did not
// when the plan was made).
func stateOf(tbl *icetable.Table, props ...string) plannedState {
	s := plannedState{Props: map[string]string{}}
	var have ice.Properties
	if tbl != nil {
		have = tbl.Properties()
		s.Main = mainOf(tbl.Metadata())
	}
	for _, k := range props {
		s.Props[k] = have[k]
	}
	return s
}

// withMain is s asserting the main branch of tbl instead.
func (s plannedState) withMain(tbl *icetable.Table) plannedState {
	s.Main = stateOf(tbl).Main
	return s
}

func (s plannedState) GetType() string { return "lakemerge-assert-planned-state" }

func (s plannedState) Validate(m icetable.Metadata) error {
	if m == nil {
		return &movedError{what: "the table is gone"}
	}
	main := mainOf(m)
	switch {
	case main == nil && s.Main != nil:
		return &movedError{what: fmt.Sprintf("the main branch is gone (was at snapshot %d)", *s.Main)}
	case main != nil && s.Main == nil:
		return &movedError{what: fmt.Sprintf("the main branch was created (snapshot %d)", *main)}
	case main != nil && *main != *s.Main:
		return &movedError{what: fmt.Sprintf("the main branch moved from snapshot %d to %d", *s.Main, *main)}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Props)) {
		if m.Properties()[k] != s.Props[k] {
			return &movedError{what: "property " + k + " changed"}
		}
	}
	return nil
}

// mainOf is the snapshot id the main branch of m references; nil when m
// has no main branch (no snapshot yet).
func mainOf(m icetable.Metadata) *int64 {
	for name, ref := range m.Refs() {
		if name == icetable.MainBranch {
			id := ref.SnapshotID
			return &id
		}
	}
	return nil
}

// movedError is a failed plannedState: another commit changed the table
// since the commit was planned.
type movedError struct{ what string }

func (e *movedError) Error() string { return "table moved on: " + e.what }
