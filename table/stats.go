package table

// ApplyStats is what applying one deduped change set to a table did. Table
// writers fill it; the merge loop reports it.
type ApplyStats struct {
	Inserted int64 `json:"inserted"` // keys that had no live row and got one
	Updated  int64 `json:"updated"`  // live rows replaced by a newer change
	Deleted  int64 `json:"deleted"`  // live rows removed by a newer delete (or by a reload)
	Stale    int64 `json:"stale"`    // changes not applied: the stored row has an equal or newer _seq
	Absent   int64 `json:"absent"`   // deletes of keys that have no live row (nothing to do)
	// KeptMissing counts written rows that left columns out (partial row
	// images) for a key with no stored row: those columns are NULL.
	KeptMissing int64 `json:"kept_missing"`

	DataFiles    int64 `json:"data_files"`    // data files written
	DeleteFiles  int64 `json:"delete_files"`  // delete files written
	BytesWritten int64 `json:"bytes_written"` // bytes of data and delete files written
	FilesScanned int64 `json:"files_scanned"` // stored data files read to locate keys
	// RowsScanned counts the stored rows whose key was read to locate the
	// changed keys (the rows of the key pages decoded); PagesSkipped the
	// key column pages, in the row groups read, whose min/max (column
	// index or page header statistics) hold no changed key of the file,
	// whose rows were not decoded (table.ScanCounts).
	RowsScanned    int64 `json:"rows_scanned"`
	PagesSkipped   int64 `json:"pages_skipped"`
	FilesRewritten int64 `json:"files_rewritten"` // stored data files rewritten (copy-on-write writers)
}

// Add adds the counts of o to s: the stats of a change set applied in
// pieces within one commit are the sums of the pieces'.
func (s *ApplyStats) Add(o ApplyStats) {
	s.Inserted += o.Inserted
	s.Updated += o.Updated
	s.Deleted += o.Deleted
	s.Stale += o.Stale
	s.Absent += o.Absent
	s.KeptMissing += o.KeptMissing
	s.DataFiles += o.DataFiles
	s.DeleteFiles += o.DeleteFiles
	s.BytesWritten += o.BytesWritten
	s.FilesScanned += o.FilesScanned
	s.RowsScanned += o.RowsScanned
	s.PagesSkipped += o.PagesSkipped
	s.FilesRewritten += o.FilesRewritten
}
