package iceberg

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"strings"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
)

// VacuumStats and VacuumFile are the shared ones (table.Table).
type (
	VacuumStats = table.VacuumStats
	VacuumFile  = table.VacuumFile
)

// Vacuum deletes the orphan files under the table's location: files that
// no snapshot and no retained metadata file references, and that were
// written longer than retention ago. They are the data, delete, manifest
// and bookmark files of commit attempts that failed or were interrupted
// (a crash, a lost conflict), metadata files older than the retained
// metadata log, and the bookmark and tombstone files only such metadata
// files referenced. The bookmark and tombstone files that the current
// metadata or any retained earlier metadata file references are kept,
// whatever their age: a run that began from an earlier state (a concurrent
// run, or a catalog rolled back to that metadata file) reads them. So are
// the journals of the snapshots any of those metadata files lists (a
// prepared table catching up on such a state reads them).
//
// Listing and the referenced set are iceberg-go's (Table.PlanOrphanFiles);
// the files of a commit in flight are younger than any sane retention, so
// keep it longer than the longest run. VacuumPlan lists the same files
// without deleting them.
func (t *Table) Vacuum(ctx context.Context, retention time.Duration) (VacuumStats, error) {
	var vs VacuumStats
	files, fs, err := t.vacuumPlan(ctx, retention)
	if err != nil || fs == nil {
		return vs, err
	}
	var errs []error
	for _, f := range files {
		if err := fs.Remove(f.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		vs.FilesDeleted++
		vs.BytesDeleted += f.Size
	}
	if err := errors.Join(errs...); err != nil {
		return vs, fmt.Errorf("vacuum %s: %w", t.opts.Database+"."+t.opts.Name, err)
	}
	return vs, nil
}

// VacuumPlan lists the files Vacuum would delete now, as URLs, and deletes
// none.
func (t *Table) VacuumPlan(ctx context.Context, retention time.Duration) ([]VacuumFile, error) {
	files, _, err := t.vacuumPlan(ctx, retention)
	for i, f := range files {
		if strings.HasPrefix(f.Path, "/") { // iceberg-go lists local tables by path
			files[i].Path = "file://" + f.Path
		}
	}
	return files, err
}

// vacuumPlan lists the orphan files older than retention, minus the
// bookmark and tombstone files, and the table's file system to delete
// them through (nil when the table does not exist).
func (t *Table) vacuumPlan(ctx context.Context, retention time.Duration) ([]VacuumFile, iceio.IO, error) {
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return nil, nil, err
	}
	name := t.opts.Database + "." + t.opts.Name
	// Both of iceberg-go's listings (local files, blob stores) walk the
	// location as a folder, so a table whose name extends this one's
	// ("items_old" beside "items") is not listed with it
	// (TestVacuumDeletesOnlyOrphans checks this on both).
	plan, err := tbl.PlanOrphanFiles(ctx, icetable.WithFilesOlderThan(retention))
	if err != nil {
		return nil, nil, fmt.Errorf("vacuum %s: %w", name, err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("vacuum %s: %w", name, err)
	}
	// Metadata of another table under this location means two tables
	// share it (the catalog lost the first and lakemerge once created a
	// second): the files this table does not reference may be the other
	// one's data. Delete nothing.
	known := map[string]bool{tbl.MetadataLocation(): true}
	for e := range tbl.Metadata().PreviousFiles() {
		known[e.MetadataFile] = true
	}
	foreign, err := foreignMetadata(fs, tbl.Location(), tbl.Metadata().TableUUID().String(), known)
	if err != nil {
		return nil, nil, fmt.Errorf("vacuum %s: %w", name, err)
	}
	if len(foreign) > 0 {
		return nil, nil, fmt.Errorf("vacuum %s: refused, nothing deleted: %s holds metadata of another table (%d file(s), e.g. %s): "+
			"its files are not this table's to judge; register or move the other table first", name, tbl.Location(), len(foreign), foreign[0])
	}
	keep, err := sideFilesReferenced(fs, tbl)
	if err != nil {
		return nil, nil, fmt.Errorf("vacuum %s: %w", name, err)
	}
	var files []VacuumFile
	for _, f := range plan.OrphanFiles() {
		if !keep[localPath(f.Path)] {
			files = append(files, VacuumFile{Path: f.Path, Size: f.SizeBytes})
		}
	}
	return files, fs, nil
}

// localPath drops the file:// scheme: iceberg-go lists local tables by
// path, while table properties hold file:// URLs.
func localPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "file://"); ok {
		return rest
	}
	return p
}

// sideFilesReferenced returns the side files (local paths for local
// tables) that the table's current metadata and every earlier metadata
// file it retains reference: the bookmark and tombstone files of their
// properties and the journals of their snapshots. A snapshot expired from
// the current metadata keeps its journal while a retained metadata file
// lists it: a catalog rolled back to that file catches up from it.
// Metadata files of the log that are gone already are passed over.
func sideFilesReferenced(fs iceio.IO, tbl *icetable.Table) (map[string]bool, error) {
	keep := map[string]bool{}
	add := func(meta icetable.Metadata) {
		for _, f := range append(sideFilesOf(meta.Properties()), journalsOf(meta)...) {
			keep[localPath(f)] = true
		}
	}
	add(tbl.Metadata())
	for entry := range tbl.Metadata().PreviousFiles() {
		meta, err := readMetadata(fs, entry.MetadataFile)
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		add(meta)
	}
	return keep, nil
}
