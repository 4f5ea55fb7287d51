package iceberg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/table"
)

// liveManifests splits the manifests of snapshot s into those that list a
// live file (status added or existing) and reports whether any lists
// none: a compaction's rewrite snapshot keeps, as the Iceberg spec asks,
// a data and a delete manifest of only the files it removed (status
// deleted), and iceberg-go carries both into the snapshots after it.
func liveManifests(s *icetable.Snapshot, fsys iceio.IO) (live []ice.ManifestFile, dead bool, err error) {
	all, err := s.Manifests(fsys)
	if err != nil {
		return nil, false, fmt.Errorf("read manifest list: %w", err)
	}
	for _, m := range all {
		if m.HasAddedFiles() || m.HasExistingFiles() {
			live = append(live, m)
		}
	}
	return live, len(live) < len(all), nil
}

// dropDeadManifests commits, on the snapshot the main branch holds, a
// replace snapshot whose manifest list is that snapshot's without the
// manifests that list no live file (liveManifests): the same files, the
// same sequence numbers, no data change. Readers open every manifest a
// snapshot lists: DuckDB answered count(*) of a compacted table 2–4×
// slower with the two a compaction leaves than without them (README,
// Maintenance). It runs after a compaction.
//
// The commit lands only on the snapshot it read (commitOn's plannedState;
// it sets no property, so a run's property-only commit meanwhile is
// carried forward); when another commit landed first nothing is
// committed and it reports false, nil: the manifests stay until the next
// compaction. Only format version 2 tables (v3 snapshots also carry row
// lineage) are handled.
func (t *Table) dropDeadManifests(ctx context.Context) (bool, error) {
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return false, err
	}
	cur := tbl.CurrentSnapshot()
	if cur == nil || tbl.Metadata().Version() != 2 {
		return false, nil
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return false, fmt.Errorf("open table io: %w", err)
	}
	live, dead, err := liveManifests(cur, fsys)
	if err != nil || !dead {
		return false, err
	}
	wfs, ok := fsys.(iceio.WriteFileIO)
	if !ok {
		return false, errors.New("the table's file io cannot write")
	}
	locs, err := tbl.LocationProvider()
	if err != nil {
		return false, err
	}
	id := rand.Int64N(math.MaxInt64-1) + 1
	for tbl.Metadata().SnapshotByID(id) != nil {
		id = rand.Int64N(math.MaxInt64-1) + 1
	}
	seq := tbl.Metadata().LastSequenceNumber() + 1
	parent := cur.SnapshotID
	path := locs.NewMetadataLocation(fmt.Sprintf("snap-%d-0-%s.avro", id, uuid.New()))
	out, err := wfs.Create(path)
	if err != nil {
		return false, fmt.Errorf("write manifest list: %w", err)
	}
	err = ice.WriteManifestList(2, out, id, &parent, &seq, 0, live)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("write manifest list: %w", err)
	}
	props := ice.Properties{}
	if cur.Summary != nil {
		for k, v := range cur.Summary.Properties {
			if strings.HasPrefix(k, "total-") || k == SummaryRunsProperty || k == SummaryObjectsProperty {
				props[k] = v
			}
		}
	}
	snap := icetable.Snapshot{
		SnapshotID: id, ParentSnapshotID: &parent, SequenceNumber: seq,
		TimestampMs: max(time.Now().UnixMilli(), cur.TimestampMs), ManifestList: path,
		Summary:  &icetable.Summary{Operation: icetable.OpReplace, Properties: props},
		SchemaID: cur.SchemaID,
	}
	updates := []icetable.Update{
		icetable.NewAddSnapshotUpdate(&snap),
		icetable.NewSetSnapshotRefUpdate(icetable.MainBranch, id, icetable.BranchRef, -1, -1, -1),
	}
	reqs := []icetable.Requirement{stateOf(tbl), icetable.AssertTableUUID(tbl.Metadata().TableUUID())}
	meta, loc, err := t.cat.CommitTable(ctx, tbl.Identifier(), reqs, updates)
	if err != nil {
		err = t.classify(ctx, table.InCommit, tbl.MetadataLocation(), "", err)
		if errors.Is(err, table.ErrConflict) {
			return false, nil
		}
		return false, err
	}
	landed := icetable.New(tbl.Identifier(), meta, loc, tbl.FS, t.cat)
	if err := deleteDroppedMetadata(ctx, tbl, landed); err != nil {
		return true, err
	}
	return true, nil
}
