package iceberg

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"strconv"
	"strings"

	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
)

// A rollback inside the metadata (Spark's rollback_to_snapshot, iceberg-go's
// Transaction.RollbackToSnapshot, set_current_snapshot) moves the main
// branch back to an earlier snapshot but keeps the table properties: the
// bookmark and tombstones would still be those of the snapshots rolled
// back, and the next run would take their raw files as absorbed — their
// rows lost with exit 0. So every commit that sets the bookmark also
// records, in SnapshotProperty, the snapshot that state belongs to, and
// the state is read through stateProps, which checks that the main
// branch still descends from it.
//
// When it does not, the state of the main branch's line is found in the
// retained metadata files (the metadata log): the newest one whose own
// state belongs to the main branch's snapshot or one of its ancestors
// holds the bookmark and tombstones of that snapshot — the state a
// catalog pointed at that metadata file would give — and the run goes on
// from there: it absorbs again what came after and commits that state
// with its own. Without such a file (all expired, or written before
// SnapshotProperty existed and not paired with an ancestor) the run stops
// with an error that says so.

// SnapshotProperty names the snapshot the bookmark and tombstone
// properties belong to, as "<snapshot id>:<sequence number>": the
// snapshot of the commit that set them, or the main branch's snapshot when
// that commit added none. Absent on tables last committed before it
// existed and on tables without a snapshot; then the properties are taken
// as they are.
const SnapshotProperty = "lakemerge.snapshot"

// stateOwner is a parsed SnapshotProperty.
type stateOwner struct {
	id, seq int64
}

func (o stateOwner) String() string { return fmt.Sprintf("%d:%d", o.id, o.seq) }

func ownerOf(s *icetable.Snapshot) stateOwner {
	return stateOwner{id: s.SnapshotID, seq: s.SequenceNumber}
}

// parseOwner parses a SnapshotProperty value; ok is false when v is empty.
func parseOwner(v string) (o stateOwner, ok bool, err error) {
	if v == "" {
		return o, false, nil
	}
	id, seq, found := strings.Cut(v, ":")
	if found {
		o.id, err = strconv.ParseInt(id, 10, 64)
		if err == nil {
			o.seq, err = strconv.ParseInt(seq, 10, 64)
		}
	}
	if !found || err != nil {
		return o, false, fmt.Errorf("property %s is %q, not <snapshot id>:<sequence number>", SnapshotProperty, v)
	}
	return o, true, nil
}

// onMainLine reports whether the main branch of m is at snapshot o or
// descends from it. The walk goes up the main branch's ancestors until it
// meets o (or a snapshot whose parent is o, which may have expired), or a
// snapshot older than o (sequence number below o's: o is not above it).
// Ancestors that expired before either is met are taken as o's line: a
// rollback target is a kept snapshot older than o, which the walk meets.
func onMainLine(m icetable.Metadata, o stateOwner) bool {
	main := mainOf(m)
	if main == nil {
		return false
	}
	s := m.SnapshotByID(*main)
	for s != nil {
		switch {
		case s.SnapshotID == o.id:
			return true
		case s.SequenceNumber < o.seq:
			return false
		case s.ParentSnapshotID == nil:
			return false
		case *s.ParentSnapshotID == o.id:
			return true
		}
		s = m.SnapshotByID(*s.ParentSnapshotID)
	}
	return true
}

// stateProps returns the properties that hold lakemerge's state (bookmark,
// tombstones) for tbl's main branch: tbl's own, or, after a rollback
// inside the metadata, those of the newest retained metadata file whose
// state belongs to the main branch's line (recovered true).
func stateProps(ctx context.Context, tbl *icetable.Table) (_ ice.Properties, recovered bool, _ error) {
	props := tbl.Properties()
	o, ok, err := parseOwner(props[SnapshotProperty])
	if err != nil || !ok {
		return props, false, err
	}
	meta := tbl.Metadata()
	if onMainLine(meta, o) {
		return props, false, nil
	}
	name := strings.Join(tbl.Identifier(), ".")
	cur := "none"
	if main := mainOf(meta); main != nil {
		cur = strconv.FormatInt(*main, 10)
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("open table io: %w", err)
	}
	logged := slices.Collect(meta.PreviousFiles())
	for _, e := range slices.Backward(logged) {
		old, err := readMetadata(fsys, e.MetadataFile)
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("table %s was rolled back to snapshot %s: find its state: %w", name, cur, err)
		}
		p := old.Properties()
		if p[BookmarkProperty] == "" {
			continue
		}
		po, ok, err := parseOwner(p[SnapshotProperty])
		if err != nil {
			continue // not a state lakemerge wrote
		}
		if !ok {
			// Written before SnapshotProperty: its state is that of its
			// own main branch.
			s := old.CurrentSnapshot()
			if s == nil {
				continue
			}
			po = ownerOf(s)
		}
		if onMainLine(meta, po) {
			return p, true, nil
		}
	}
	return nil, false, fmt.Errorf("table %s: its main branch is at snapshot %s, which does not descend from snapshot %d that its bookmark and tombstones belong to (the table was rolled back outside lakemerge), and no retained metadata file holds the state of snapshot %s's line: point the catalog at the metadata file of a snapshot lakemerge committed, or reload the table",
		name, cur, o.id, cur)
}

// readMetadata reads the metadata file at loc.
func readMetadata(fsys iceio.IO, loc string) (icetable.Metadata, error) {
	r, err := fsys.Open(loc)
	if err != nil {
		return nil, fmt.Errorf("read metadata file %s: %w", loc, err)
	}
	defer r.Close()
	m, err := icetable.ParseMetadata(r)
	if err != nil {
		return nil, fmt.Errorf("read metadata file %s: %w", loc, err)
	}
	return m, nil
}
