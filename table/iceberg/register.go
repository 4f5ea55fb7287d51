package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
)

// ErrUnregistered is matched by the error of a commit attempt that would
// create a table where table metadata already exists: the catalog lost
// its entry (a deleted or emptied catalog file, a dropped Glue table), and
// creating a new table there would hide the old one and re-read the whole
// raw zone. Register records the existing table instead.
var ErrUnregistered = errors.New("table metadata exists where the catalog has no table")

// metadataFile is a table metadata file under a table's location.
type metadataFile struct {
	Location string
	Version  int       // the number the file name starts with (00012-<uuid>.metadata.json); -1 if none
	Modified time.Time // when it was written, as the store reports it
}

// metadataFiles lists the table metadata files under the table's Location,
// oldest version first. It needs Options.Location and Options.Files.
func (t *Table) metadataFiles(ctx context.Context) ([]metadataFile, error) {
	if t.opts.Location == "" || t.opts.Files == nil {
		return nil, errors.New("the table's location and files are not known (Options.Location, Options.Files)")
	}
	lio, ok := t.opts.Files(ctx).(iceio.ListableIO)
	if !ok {
		return nil, errors.New("the warehouse's file IO cannot list files")
	}
	root := strings.TrimRight(t.opts.Location, "/") + "/metadata"
	var out []metadataFile
	err := lio.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fs.SkipAll
		case err != nil:
			return err
		case d.IsDir() || !strings.HasSuffix(p, ".metadata.json"):
			return nil
		}
		v := -1
		if n, _, ok := strings.Cut(path.Base(p), "-"); ok {
			if x, err := strconv.Atoi(n); err == nil {
				v = x
			}
		}
		var mod time.Time
		if info, err := d.Info(); err == nil {
			mod = info.ModTime()
		}
		out = append(out, metadataFile{Location: p, Version: v, Modified: mod})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list metadata of %s.%s under %s: %w", t.opts.Database, t.opts.Name, root, err)
	}
	slices.SortFunc(out, func(a, b metadataFile) int {
		if a.Version != b.Version {
			return a.Version - b.Version
		}
		return strings.Compare(a.Location, b.Location)
	})
	return out, nil
}

// refuseExisting returns an ErrUnregistered error when table metadata
// exists under the Location where a new table is about to be created.
func (t *Table) refuseExisting(ctx context.Context) error {
	if t.opts.Location == "" || t.opts.Files == nil {
		return nil
	}
	files, err := t.metadataFiles(ctx)
	if err != nil || len(files) == 0 {
		return err
	}
	// Another writer may have created the table since this attempt began
	// (its metadata is what the listing found): then the catalog holds it
	// and this attempt lost a race, as when CreateTable finds it.
	if tbl, err := t.Load(ctx); err == nil && tbl != nil {
		return fmt.Errorf("create %s.%s: created concurrently: %w", t.opts.Database, t.opts.Name, table.ErrConflict)
	}
	// Or be creating it right now: a create writes the first metadata
	// file (version 0) before the catalog entry, so between the two the
	// table looks exactly like a lost one. Only version-0 files written a
	// moment ago are taken for that: a conflict, retried after a backoff,
	// by which time the catalog holds the table. A table that committed
	// anything has later versions, and one whose catalog entry was lost
	// for longer than createGrace is what it seems.
	if young(files, time.Now()) {
		return fmt.Errorf("create %s.%s: another writer is creating it (%s yet: its first metadata file is a moment old; "+
			"if no other run is creating it, record it with `lakemerge register`): %w",
			t.opts.Database, t.opts.Name, ErrUnregistered.Error(), table.ErrConflict)
	}
	return fmt.Errorf("create %s.%s: %w: %d metadata file(s) under %s, the newest %s; nothing was written. "+
		"Register the existing table with `lakemerge register` (it takes the newest metadata file), or move its files away to start a new one",
		t.opts.Database, t.opts.Name, ErrUnregistered, len(files), t.opts.Location, path.Base(files[len(files)-1].Location))
}

// createGrace is how long a table's first metadata file may wait for its
// catalog entry while another writer creates the table (between the two
// writes of iceberg-go's CreateTable).
const createGrace = 2 * time.Minute

// young reports whether files are only the first metadata files of a table
// being created (version 0), the newest written less than createGrace
// before now.
func young(files []metadataFile, now time.Time) bool {
	var newest time.Time
	for _, f := range files {
		if f.Version != 0 || f.Modified.IsZero() {
			return false
		}
		if f.Modified.After(newest) {
			newest = f.Modified
		}
	}
	return len(files) > 0 && now.Sub(newest) < createGrace
}

// registrar is what Register needs of a catalog beyond Catalog: iceberg-go's
// Glue catalog has it; cmd/lakemerge/wire adds it for the SQLite one.
type registrar interface {
	RegisterTable(ctx context.Context, ident icetable.Identifier, metadataLocation string) (*icetable.Table, error)
}

// Register records in the catalog the table whose metadata is under the
// table's Location, for a catalog that lost its entry (see
// ErrUnregistered): the metadata file named by file (a location, or a file
// name under <Location>/metadata), or else the one with the highest
// version. Two files with the highest version (a commit and a failed
// attempt racing it) are ambiguous: Register refuses and names them, and
// the caller chooses with file. A table the catalog knows is left as it is
// (registered false), as is a table that has no metadata at all when file
// is empty (nothing to register: Describe tells it does not exist).
//
// After a run (table.Table.Register, file empty) it does no I/O: the run's
// Begin found the table in the catalog, or its commit put it there.
func (t *Table) Register(ctx context.Context, file string) (registered bool, err error) {
	if file == "" && t.known.Load() {
		return false, nil
	}
	if tbl, err := t.Load(ctx); err != nil || tbl != nil {
		return false, err
	}
	if t.cat == nil {
		return false, fmt.Errorf("register %s.%s: no catalog", t.opts.Database, t.opts.Name)
	}
	r, ok := t.cat.(registrar)
	if !ok {
		return false, fmt.Errorf("register %s.%s: catalog %T cannot register existing tables", t.opts.Database, t.opts.Name, t.cat)
	}
	files, err := t.metadataFiles(ctx)
	if err != nil {
		return false, err
	}
	var loc string
	switch {
	case file != "":
		for _, f := range files {
			if f.Location == file || path.Base(f.Location) == file {
				loc = f.Location
			}
		}
		if loc == "" {
			return false, fmt.Errorf("register %s.%s: no metadata file %s under %s/metadata", t.opts.Database, t.opts.Name, file, t.opts.Location)
		}
	case len(files) == 0:
		return false, nil
	default:
		last := files[len(files)-1]
		if n := len(files); n > 1 && files[n-2].Version == last.Version {
			return false, fmt.Errorf("register %s.%s: %s and %s both have version %d (a commit and a failed attempt): choose one (--metadata)",
				t.opts.Database, t.opts.Name, path.Base(files[n-2].Location), path.Base(last.Location), last.Version)
		}
		loc = last.Location
	}
	if _, err := r.RegisterTable(ctx, t.ident(), loc); err != nil {
		return false, fmt.Errorf("register %s.%s at %s: %w", t.opts.Database, t.opts.Name, loc, err)
	}
	t.known.Store(true)
	return true, nil
}

// foreignMetadata returns the metadata files under the table's location
// that belong to another table (another table-uuid than uuid) and that the
// table's metadata log does not list (known): the files of a table the
// catalog lost, under a table created again at the same location.
func foreignMetadata(fsys iceio.IO, root, uuid string, known map[string]bool) ([]string, error) {
	lio, ok := fsys.(iceio.ListableIO)
	if !ok {
		return nil, errors.New("the table's file IO cannot list files")
	}
	var foreign []string
	err := lio.WalkDir(strings.TrimRight(root, "/")+"/metadata", func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fs.SkipAll
		case err != nil:
			return err
		case d.IsDir() || !strings.HasSuffix(p, ".metadata.json") || known[p]:
			return nil
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var head struct {
			UUID string `json:"table-uuid"`
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		if json.Unmarshal(b, &head) == nil && head.UUID != "" && head.UUID != uuid {
			foreign = append(foreign, p)
		}
		return nil
	})
	return foreign, err
}
