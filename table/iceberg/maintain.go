package iceberg

import (
	"context"
	"errors"
	"fmt"
	"time"

	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
)

var _ table.Maintainer = (*Table)(nil)

func (t *Table) fullName() string { return t.opts.Database + "." + t.opts.Name }

// Maintain runs one maintenance pass of p over the table, in this order:
//
//  1. compaction: when a bucket (partition) has position-delete files
//     or small data files that reach p's thresholds (or, with
//     p.RewriteDeletedPct, a data file with that share of its rows
//     deleted), it and every bucket halfway to one are compacted, bucket
//     by bucket (bucket.work): with p.RewriteDeletedPct 0, its data files
//     that have deletes or are small are rewritten into key-sorted files
//     of the target size with the deletes applied; otherwise a minor
//     pass: its small files but the largest, and the files with that
//     share deleted, are rewritten so, and the position-delete files of
//     each data file kept are merged into one. All goes in one rewrite
//     snapshot, which replaces those data files and delete files and
//     carries the table properties (bookmark, tombstones) forward as they
//     are (compactBuckets says why a concurrent run is safe), followed by
//     a snapshot without the manifests that list only the removed files
//     (dropDeadManifests);
//  2. tombstone pruning: when at least one in pruneMin tombstones was
//     written longer ago than the horizon, they are dropped, by the same
//     rule a run applies when it writes the tombstone file
//     (docs/format/tombstones.md), in a commit that fails when a run
//     changed the tombstones or the bookmark since;
//  3. snapshot expiry: snapshots older than p.KeepFor and beyond the
//     newest p.KeepVersions leave the metadata (iceberg-go's
//     ExpireSnapshots, without its own file deletion);
//  4. unreferenced files, when snapshots expired (or, with expiry off,
//     after a compaction): Vacuum with p.OrphanAge deletes the data,
//     delete, manifest and metadata files no kept snapshot or retained
//     metadata file references, and the bookmark and tombstone files no
//     retained metadata file references.
//
// A metadata file whose current snapshot is kept can be restored in the
// catalog (a rollback) and run from: its data files, delete files and
// side files are all referenced and kept. A metadata file whose snapshot
// expired cannot: its data files may be gone.
//
// Steps that p turns off (thresholds of 0, KeepFor 0) are skipped; a table
// that does not exist has nothing to maintain.
func (t *Table) Maintain(ctx context.Context, p table.Policy) (table.MaintenanceStats, error) {
	var st table.MaintenanceStats
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return st, err
	}
	if p.Compacts() {
		cst, err := t.compact(ctx, p)
		st.Add(cst)
		if err != nil {
			return st, err
		}
	}
	pruned, err := t.pruneTombstones(ctx)
	st.TombstonesPruned = pruned
	if err != nil {
		return st, err
	}
	if p.Expires() {
		n, err := t.expire(ctx, p)
		st.VersionsExpired = n
		if err != nil {
			return st, err
		}
	}
	// Files become unreferenced when snapshots expire; a compaction's
	// rewritten files stay referenced by the snapshots kept, so after a
	// compaction alone there is nothing new to delete, unless snapshots
	// never expire (then only orphans of failed attempts are left).
	// Vacuum reads the manifests of every kept snapshot: it runs only
	// when it can find something.
	if p.OrphanAge > 0 && (st.VersionsExpired > 0 || st.Compactions > 0 && !p.Expires()) {
		vs, err := t.Vacuum(ctx, p.OrphanAge)
		st.FilesDeleted, st.BytesDeleted = vs.FilesDeleted, vs.BytesDeleted
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// Due reports whether a bucket reaches p's compaction thresholds or
// snapshots are well past p's retention (expiryDue), from the table's
// metadata and manifests (no data file is read). The plan of the
// manifests is kept for Maintain and Files of the same snapshot.
func (t *Table) Due(ctx context.Context, p table.Policy) (bool, error) {
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return false, err
	}
	if p.Expires() && expiryDue(tbl, p, time.Now()) {
		return true, nil
	}
	if !p.Compacts() {
		return false, nil
	}
	bs, _, err := t.plan(ctx, tbl, p.SmallFileBytes)
	if err != nil {
		return false, fmt.Errorf("plan maintenance of %s: %w", t.fullName(), err)
	}
	for _, b := range bs {
		if b.due(p) {
			return true, nil
		}
	}
	return false, nil
}

// Files describes the current snapshot's files; Versions is the number of
// snapshots the metadata keeps. A plan of the snapshot that Due or
// Maintain made is reused; without one (a run with the policy off,
// status) the files are counted from the manifests (countFiles), without
// planning a scan.
func (t *Table) Files(ctx context.Context, smallBytes int64) (table.FileStats, error) {
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return table.FileStats{}, err
	}
	if cur := tbl.CurrentSnapshot(); cur != nil {
		t.planMu.Lock()
		last := t.lastPlan
		t.planMu.Unlock()
		if last == nil || last.manifestList != cur.ManifestList || last.small != smallBytes {
			fs, err := countFiles(ctx, tbl, smallBytes)
			if err != nil {
				return fs, fmt.Errorf("list files of %s: %w", t.fullName(), err)
			}
			return fs, nil
		}
	}
	_, fs, err := t.plan(ctx, tbl, smallBytes)
	if err != nil {
		return fs, fmt.Errorf("list files of %s: %w", t.fullName(), err)
	}
	return fs, nil
}

// expirable lists the snapshots of the main branch's history that p
// expires at now: older than p.KeepFor and not among the newest
// p.KeepVersions (at least the current one is kept). It is what
// iceberg-go's ExpireSnapshots removes for a table with one branch, used
// to decide whether a pass is due.
func expirable(tbl *icetable.Table, p table.Policy, now time.Time) []int64 {
	keep := max(p.KeepVersions, 1)
	var out []int64
	cut := now.Add(-p.KeepFor).UnixMilli()
	n := 0
	cur := tbl.CurrentSnapshot()
	for cur != nil {
		n++
		if n > keep && cur.TimestampMs < cut {
			out = append(out, cur.SnapshotID)
		}
		if cur.ParentSnapshotID == nil {
			break
		}
		cur = tbl.SnapshotByID(*cur.ParentSnapshotID)
	}
	return out
}

// expirySlack is how far past p.KeepFor (as a fraction of it) the oldest
// expirable snapshot must be before a run's pass expires: snapshots
// expire in batches (every KeepFor/8: 3 hours for a 24-hour window),
// not one per run, since each expiry is followed by a Vacuum that reads
// the manifests of every kept snapshot.
const expirySlack = 8

// expiryDue reports whether the oldest snapshot p expires at now is
// older than p.KeepFor + p.KeepFor/expirySlack.
func expiryDue(tbl *icetable.Table, p table.Policy, now time.Time) bool {
	ids := expirable(tbl, p, now)
	if len(ids) == 0 {
		return false
	}
	oldest := tbl.SnapshotByID(ids[len(ids)-1])
	return oldest != nil && oldest.TimestampMs < now.Add(-p.KeepFor-p.KeepFor/expirySlack).UnixMilli()
}

// expire removes the snapshots p expires from the table's metadata, in
// one catalog commit that lands only on the snapshot it was planned on
// (commitOn; it sets no property, so a run's property-only commit
// meanwhile is carried forward), and returns how many it removed. Files
// are not deleted here (Maintain's Vacuum does, once older than
// p.OrphanAge).
func (t *Table) expire(ctx context.Context, p table.Policy) (int64, error) {
	for attempt := 1; ; attempt++ {
		tbl, err := t.Load(ctx)
		if err != nil || tbl == nil {
			return 0, err
		}
		before := len(tbl.Metadata().Snapshots())
		tx := tbl.NewTransaction()
		if err := tx.ExpireSnapshots(icetable.WithRetainLast(max(p.KeepVersions, 1)), icetable.WithOlderThan(p.KeepFor),
			icetable.WithPostCommit(false)); err != nil {
			return 0, fmt.Errorf("expire snapshots of %s: %w", t.fullName(), err)
		}
		landed, after, err := t.commitOn(ctx, tbl, tx, stateOf(tbl))
		if err != nil {
			err = t.classify(ctx, table.InCommit, tbl.MetadataLocation(), "", fmt.Errorf("expire snapshots of %s: %w", t.fullName(), err))
			if errors.Is(err, table.ErrConflict) && attempt < maxCompactAttempts {
				continue
			}
			return 0, err
		}
		n := int64(before - len(landed.Metadata().Snapshots()))
		if after != nil {
			return n, fmt.Errorf("after expiring snapshots of %s: %w", t.fullName(), after)
		}
		return n, nil
	}
}

// pruneMin is the least share (1/pruneMin) of the tombstones that must be
// past the horizon before a maintenance pass prunes them: pruning writes
// a new tombstone file and commits, and a run that deletes keys prunes
// in its own commit anyway.
const pruneMin = 8

// pruneDue reports whether pruning a set of have tombstones to kept is
// worth a commit: at least one in pruneMin of them goes.
func pruneDue(have, kept int) bool { return have > kept && (have-kept)*pruneMin >= have }

// pruneTombstones drops the tombstones written longer ago than the
// horizon, by the rule a run applies (table.Tombstones.Apply with no
// edits), and commits the new tombstone reference alone, when at least
// one in pruneMin of them goes (pruneDue). It returns how many it
// dropped. A table that keeps none (Options.NoTombstones) has nothing to
// prune: its next commit stops referencing a file left from before.
//
// The commit lands only on the state the pruned set was read from
// (commitOn: the main branch, the bookmark and tombstone properties):
// iceberg-go's catalogs apply a commit to the table's current metadata and
// check only its requirements, and a run that deleted keys with no live
// row changes the tombstones without a new snapshot; without it, this
// commit could drop that run's tombstones.
func (t *Table) pruneTombstones(ctx context.Context) (int64, error) {
	if t.opts.NoTombstones {
		return 0, nil
	}
	for attempt := 1; ; attempt++ {
		tbl, err := t.Load(ctx)
		if err != nil || tbl == nil {
			return 0, err
		}
		props, recovered, err := stateProps(ctx, tbl)
		if err != nil || recovered {
			// After a rollback inside the metadata, the next run sets
			// the state of the main branch's line first.
			return 0, err
		}
		tomb, err := loadTombstones(ctx, tbl, props, t.mem)
		if err != nil {
			return 0, fmt.Errorf("prune tombstones of %s: %w", t.fullName(), err)
		}
		at := t.now().UnixMicro()
		kept, changed := tomb.Apply(nil, at, at-t.opts.TombstoneHorizon.Microseconds(), nil)
		if !changed || !pruneDue(tomb.Len(), kept.Len()) {
			return 0, nil
		}
		x := &Txn{t: t, tbl: tbl}
		ref, err := x.tombstonesProperty(ctx, kept)
		if err != nil {
			return 0, fmt.Errorf("prune tombstones of %s: %w", t.fullName(), err)
		}
		if err := x.verify(ctx); err != nil {
			return 0, fmt.Errorf("prune tombstones of %s: %w", t.fullName(), err)
		}
		tx := tbl.NewTransaction()
		if ref == "" {
			err = tx.RemoveProperties([]string{TombstonesProperty})
		} else {
			err = tx.SetProperties(ice.Properties{TombstonesProperty: ref})
		}
		if err != nil {
			return 0, fmt.Errorf("prune tombstones of %s: stage: %w", t.fullName(), err)
		}
		_, after, err := t.commitOn(ctx, tbl, tx, stateOf(tbl, BookmarkProperty, TombstonesProperty))
		if err != nil {
			err = t.classify(ctx, table.InCommit, tbl.MetadataLocation(), "", err)
			if errors.Is(err, table.ErrConflict) && attempt < maxCompactAttempts {
				continue
			}
			return 0, fmt.Errorf("prune tombstones of %s: %w", t.fullName(), err)
		}
		if after != nil {
			return int64(tomb.Len() - kept.Len()), fmt.Errorf("after pruning tombstones of %s: %w", t.fullName(), after)
		}
		return int64(tomb.Len() - kept.Len()), nil
	}
}
