package table

import (
	"context"
	"errors"
	"fmt"
)

// File is a file a commit wrote and references, with the bytes written.
type File struct {
	Path string
	Size int64
}

// Written is what the files of a commit attempt hold, as the writer
// counted them from what it wrote (Parquet footers, not its own plan).
type Written struct {
	// Rows are the rows of the new data files.
	Rows int64
	// Copied are the stored rows among Rows that a copy-on-write writer
	// copied from the files it rewrites; 0 for merge-on-read.
	Copied int64
	// Removed are the stored rows the commit removes: the positions of its
	// new delete files, or the rows of the files it rewrites less those it
	// copied. RemovedFrom says where they were counted, for the error.
	Removed     int64
	RemovedFrom string
	// Files are every file the commit wrote and references: data, delete
	// and side files.
	Files []File
}

// Verify checks a commit attempt against its plan before the commit is
// made, so that nothing a writer lost (a file a fan-out writer dropped, a
// short upload, a file deleted behind its back) is ever committed:
//
//   - the new data files hold exactly the rows the plan writes: its
//     inserts and updates, and the rows copied;
//   - the commit removes exactly the stored rows the plan replaces or
//     deletes (st.Updated + st.Deleted);
//   - every file the commit references and wrote exists with the size
//     written, by stat (a HEAD or a listing on S3; nothing is downloaded).
//
// A mismatch is permanent: the error names every difference, and the
// writer commits nothing.
func Verify(ctx context.Context, st ApplyStats, w Written, stat func(ctx context.Context, path string) (int64, error)) error {
	var errs []error
	if want := st.Inserted + st.Updated + w.Copied; w.Rows != want {
		errs = append(errs, fmt.Errorf("new data files hold %d rows, the plan writes %d (%d inserts, %d updates, %d rows copied from rewritten files)",
			w.Rows, want, st.Inserted, st.Updated, w.Copied))
	}
	if want := st.Updated + st.Deleted; w.Removed != want {
		errs = append(errs, fmt.Errorf("the commit removes %d stored rows (%s), the plan removes %d (%d updated, %d deleted)",
			w.Removed, w.RemovedFrom, want, st.Updated, st.Deleted))
	}
	for _, f := range w.Files {
		size, err := stat(ctx, f.Path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("stat %s: %w", f.Path, err))
		case size != f.Size:
			errs = append(errs, fmt.Errorf("%s has %d bytes, %d were written", f.Path, size, f.Size))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verify against the plan: %w", err)
	}
	return nil
}
