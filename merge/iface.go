package merge

import (
	"context"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Raw is the raw zone: list and read change objects. It must be safe for
// concurrent use (a run opens several files at once). Its errors name
// what failed and where (list s3://bucket/prefix/…, open /raw/…/file), as
// objstore's do: a run returns them as they are, adding no location.
type Raw interface {
	// List returns every object under prefix (recursively), with its ETag
	// and size, in any order. When the store knows the prefix's folder
	// does not exist (a local folder; S3 has no folders), List fails with
	// an error matching ErrNoRawFiles.
	List(ctx context.Context, prefix string) ([]bookmarks.Entry, error)
	// Open reads one object. The caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Format knows one source's file naming, order and encoding. Open is called
// from several goroutines at once (a run decodes its files concurrently).
type Format interface {
	// Order sorts the change files among keys into apply order. Companions
	// are files that belong to change files and are read with them (the
	// Kafka sink's keys files); they are absorbed without being decoded.
	// Unknown are the keys that are not files of this format, each with
	// the reason (a name that does not parse); every key is in exactly one
	// of the three lists.
	Order(keys []string) (ordered, companions []string, unknown []Unknown)
	// IsSnapshot reports whether key is a full-load (snapshot) file.
	IsSnapshot(key string) bool
	// Open starts decoding one file. generation is the load generation its
	// changes belong to (the first part of their _seq).
	Open(ctx context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (BatchReader, error)
}

// Unknown is an object under a table's prefix that is not a file of the
// table's format, with the reason (change.Unknown: the decoders report it
// in their own vocabulary, and merge speaks the same).
type Unknown = change.Unknown

// Truncator is implemented by BatchReaders of formats with truncate events
// (Debezium 't'): after Next returned io.EOF, Truncates lists the _seq of
// each truncate in the file. Every change and stored row older than a
// truncate is gone.
type Truncator interface {
	Truncates() [][]byte
}

// Skipper is implemented by BatchReaders of formats whose files hold
// events that are not row changes (Debezium schema changes, heartbeats,
// transaction markers, skipped tombstones): after io.EOF, Skipped counts
// them, so they are reported rather than passed over in silence.
type Skipper interface {
	Skipped() int64
}

// SourceTimer is implemented by BatchReaders of formats that tell when
// their changes were committed in the source database: after Next returned
// io.EOF, SourceTime is the commit time of the newest change in the file, or
// the zero time when the file does not say. It feeds the run's metrics (how
// far a table is behind its source); it never orders changes.
type SourceTimer interface {
	SourceTime() time.Time
}

// BatchReader yields the change batches of one file.
type BatchReader interface {
	// Next returns the next batch, or io.EOF after the last. The caller owns
	// the batch and releases it. All batches of one reader share a schema.
	// Decode errors match change.ErrMalformed and name file and line.
	Next() (arrow.RecordBatch, error)
	Close() error
}

// Maintainer is implemented by a Txn whose Commit also does best-effort
// maintenance once the commit stands (Delta: checkpoint, log cleanup).
// After a successful Commit, MaintenanceErr is that maintenance's error, or
// nil; it does not undo the commit, so Run reports it as a warning
// (Result.Warnings, EventMaintenanceFailed) instead of failing the table.
type Maintainer interface {
	MaintenanceErr() error
}

// Target is a table lakemerge writes to.
type Target interface {
	// Begin loads the table's current state and starts one commit attempt.
	Begin(ctx context.Context) (Txn, error)
}

// Txn is one single-use commit attempt. Call Evolve, then Apply at most
// once (or, on a Chunker, ApplyChunk any number of times and FinishChunks
// once instead), then Commit once; after Commit, successful or not, begin
// a new Txn.
//
// Errors of Target.Begin and of every Txn method are classified by the
// writer: they match table.ErrConflict (nothing of this attempt landed;
// re-plan), table.ErrCommitUnknown (the commit may have landed; reload and
// compare the bookmark), table.ErrTransient (nothing landed; try again),
// or none of them, which is permanent: the run fails at once.
type Txn interface {
	// Bookmark is the bookmark of the table state this Txn started from.
	Bookmark() bookmarks.Bookmark
	// Columns lists the table's user columns; none when it does not exist.
	Columns() ([]change.Column, error)
	// Evolve makes the table's columns equal cols, creating the table when
	// needed; cols extends the current columns (new ones, widened types).
	Evolve(ctx context.Context, cols []change.Column) error
	// Apply writes the deduplicated changes (one row per key, sorted by key,
	// columns as after Evolve plus _op and _seq; borrowed, not released). With
	// truncateBefore set, every live row whose _seq is less than it and whose
	// key is not among the changes is deleted too.
	Apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error)
	// Commit makes what Apply wrote visible in one snapshot together with bm.
	Commit(ctx context.Context, bm bookmarks.Bookmark) error
}

// Journaler is implemented by a Txn that can carry, in its commit, the
// change set a run applied as a journal side file referenced from that
// commit (table.EncodeJournal; Table.Journal says when a run asks).
type Journaler interface {
	// Journal makes Commit write changes as the commit's journal, the
	// rows Apply finds stale marked, also when Apply changes no row (every
	// change stale or absent): the commit is then made to carry it. Call
	// it once, before Apply; changes
	// has Apply's rows in Apply's order, with _ts when the decoders gave
	// commit times, and no _keep, and is borrowed until Commit returns.
	Journal(changes arrow.RecordBatch)
}

// Chunker is implemented by a Txn that takes a change set too large for
// memory in pieces (chunks) within its one commit: a run that spilled
// hands its deduplicated changes partition by partition, so the whole set
// is never in memory. Call ApplyChunk once per chunk, then FinishChunks
// once, then Commit; never Apply on the same Txn. The chunks together are
// exactly the change set Apply would take whole, and the commit is the
// same: one snapshot with the bookmark, the same table.
type Chunker interface {
	// ApplyChunk writes one chunk: deduplicated changes, one row per key,
	// sorted by key, columns as Apply's (borrowed, not released). No key
	// is in two chunks of one Txn. The stats are the chunk's own.
	ApplyChunk(ctx context.Context, changes arrow.RecordBatch) (table.ApplyStats, error)
	// FinishChunks writes what the chunks left to the end (for a writer
	// with delete files, one per data file that loses rows; for a
	// copy-on-write writer, the one rewrite of each stored file that loses
	// rows to any chunk) and, with
	// truncateBefore set, deletes every live row whose _seq is less than
	// it and whose key is in no chunk of this Txn: Apply's truncateBefore,
	// across all chunks. The stats are what FinishChunks itself did; the
	// change set's are the sum of the chunks' and these.
	FinishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error)
}

// Bucketer is implemented by a Chunker whose table is partitioned by a
// function of the primary key (Iceberg's bucket(N, key) partition field):
// a run that spills then partitions its changes by that function instead
// of a hash of the key, so that each chunk it hands to ApplyChunk holds
// whole buckets, or one key range of one bucket when a bucket is too
// large for a chunk, and the writer writes each bucket's files once
// instead of one per chunk. A Txn that is not a Bucketer, or whose Buckets
// is 0, or whose AppendBuckets fails on the run's first batch, is spilled
// by the hash. Both methods are called before Evolve, on the table as
// Begin found it (or as Evolve would create it), from one goroutine.
type Bucketer interface {
	// Buckets is the number of key buckets of the table; 0 when its
	// partitioning is not a function of the key. cols are the run's
	// columns (those Evolve will be given, as far as the changes read so
	// far tell): before the table exists, its key columns' types decide
	// whether Evolve would create it with key buckets.
	Buckets(cols []change.Column) int
	// AppendBuckets appends to dst the bucket, in [0, Buckets), of each
	// row of b (a change batch, borrowed), by its key columns alone: equal
	// keys have equal buckets in every batch of a run, whatever their
	// other columns, and an int key the same as a widened long one. An
	// error means the key columns are of a type the function does not
	// take.
	AppendBuckets(dst []int32, b arrow.RecordBatch) ([]int32, error)
}
