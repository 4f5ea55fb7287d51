package change

// ApplyStats is what applying one deduped change set to a table did. Table
// writers fill it; the merge loop reports it.
type ApplyStats struct {
	Inserted int64 // keys that had no live row and got one
	Updated  int64 // live rows replaced by a newer change
	Deleted  int64 // live rows removed by a newer delete
	Stale    int64 // changes not applied: the stored row has an equal or newer _seq
	Absent   int64 // deletes of keys that have no live row (nothing to do)

	DataFiles      int64 // data files written
	DeleteFiles    int64 // delete files written
	BytesWritten   int64 // bytes of data and delete files written
	FilesScanned   int64 // stored data files read to locate keys
	RowsScanned    int64 // stored rows read to locate keys
	FilesRewritten int64 // stored data files rewritten (copy-on-write writers)
}
