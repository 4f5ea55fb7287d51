package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	iceio "github.com/apache/iceberg-go/io"

	"github.com/lakemerge/lakemerge/table"
)

// verify checks the commit against its plan before it is made
// (table.Verify), so that nothing a writer lost (iceberg-go's fan-out
// writer dropping a file, a short upload, a file deleted behind our back)
// is ever committed: the rows of the new data files (their footers'
// counts) are the inserts and updates planned, the positions of the new
// delete files the stored rows planned to go, and every file the commit
// wrote (data, delete, bookmark and tombstone files) exists with the size
// recorded, by a stat through the table's IO (a HEAD on S3).
func (x *Txn) verify(ctx context.Context) error {
	w := table.Written{RemovedFrom: fmt.Sprintf("positions of %d delete files", len(x.delFiles))}
	for _, df := range x.dataFiles {
		w.Rows += df.Count()
		w.Files = append(w.Files, table.File{Path: df.FilePath(), Size: df.FileSizeBytes()})
	}
	for _, df := range x.delFiles {
		w.Removed += df.Count()
		w.Files = append(w.Files, table.File{Path: df.FilePath(), Size: df.FileSizeBytes()})
	}
	for _, f := range x.sideFiles {
		w.Files = append(w.Files, table.File{Path: f.Path, Size: f.Size})
	}
	var fsys iceio.IO
	stat := func(ctx context.Context, path string) (int64, error) {
		if fsys == nil {
			var err error
			if fsys, err = x.tbl.FS(ctx); err != nil {
				return 0, fmt.Errorf("open table io: %w", err)
			}
		}
		return statSize(fsys, path)
	}
	return table.Verify(ctx, x.stats, w, stat)
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
