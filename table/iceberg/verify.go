package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
)

// sideFile is a file a commit writes besides data and delete files (a
// bookmark or tombstone file), with the size it was written with.
type sideFile struct {
	path string
	size int64
}

// verify checks the commit against its plan before it is made, so that
// nothing a writer lost (iceberg-go's fan-out writer dropping a file, a
// short upload, a file deleted behind our back) is ever committed:
//
//   - the rows of the new data files (their footers' counts) equal the
//     rows Apply planned to write: inserts and updates;
//   - the positions of the new delete files equal the rows Apply planned
//     to delete: the stored rows of updates and deletes (and of a reload's
//     rows that are gone);
//   - every file the commit references and wrote (data, delete, bookmark
//     and tombstone files) exists in storage with the size recorded, by a
//     stat through the table's IO (a HEAD on S3; nothing is downloaded).
//
// A mismatch is permanent: the error names what differs, and nothing is
// committed.
func (x *Txn) verify(ctx context.Context) error {
	var rows, dels int64
	for _, df := range x.dataFiles {
		rows += df.Count()
	}
	for _, df := range x.delFiles {
		dels += df.Count()
	}
	var errs []error
	if want := x.stats.Inserted + x.stats.Updated; rows != want {
		errs = append(errs, fmt.Errorf("%d data files hold %d rows, the plan writes %d (%d inserts, %d updates)",
			len(x.dataFiles), rows, want, x.stats.Inserted, x.stats.Updated))
	}
	if want := x.stats.Updated + x.stats.Deleted; dels != want {
		errs = append(errs, fmt.Errorf("%d delete files hold %d positions, the plan deletes %d rows (%d updated, %d deleted)",
			len(x.delFiles), dels, want, x.stats.Updated, x.stats.Deleted))
	}
	files := make([]sideFile, 0, len(x.dataFiles)+len(x.delFiles)+len(x.sideFiles))
	for _, df := range append(append([]ice.DataFile(nil), x.dataFiles...), x.delFiles...) {
		files = append(files, sideFile{path: df.FilePath(), size: df.FileSizeBytes()})
	}
	files = append(files, x.sideFiles...)
	if len(files) > 0 {
		fsys, err := x.tbl.FS(ctx)
		if err != nil {
			return fmt.Errorf("verify: open table io: %w", err)
		}
		for _, f := range files {
			got, err := statSize(fsys, f.path)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("stat %s: %w", f.path, err))
			case got != f.size:
				errs = append(errs, fmt.Errorf("%s has %d bytes, %d were written", f.path, got, f.size))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verify against the plan: %w", err)
	}
	return nil
}

// statSize returns the size of the file at path, by a stat when the IO has
// one (local files, blob stores: a HEAD request), else from the opened
// file's Stat.
func statSize(fsys iceio.IO, path string) (int64, error) {
	var fi fs.FileInfo
	if st, ok := fsys.(iceio.StatIO); ok {
		var err error
		if fi, err = st.Stat(path); err != nil {
			return 0, err
		}
	} else {
		f, err := fsys.Open(path)
		if err != nil {
			return 0, err
		}
		fi, err = f.Stat()
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	if fi.IsDir() {
		return 0, errors.New("a folder, not a file")
	}
	return fi.Size(), nil
}
