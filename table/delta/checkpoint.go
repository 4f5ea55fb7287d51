package delta

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/lakemerge/lakemerge/table"
)

var (
	stringMap = arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)
	str       = arrow.BinaryTypes.String
	i64       = arrow.PrimitiveTypes.Int64
	i32       = arrow.PrimitiveTypes.Int32
	boolean   = arrow.FixedWidthTypes.Boolean
)

func nullable(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// checkpointSchema is the classic (V1) checkpoint schema for an
// unpartitioned table: one column per action, one action a row. add.stats
// is the stats JSON (no stats_parsed); protocol's feature lists are null
// below reader 3 / writer 7.
var checkpointSchema = arrow.NewSchema([]arrow.Field{
	nullable("txn", arrow.StructOf(
		nullable("appId", str), nullable("version", i64), nullable("lastUpdated", i64))),
	nullable("add", arrow.StructOf(
		nullable("path", str), nullable("partitionValues", stringMap), nullable("size", i64),
		nullable("modificationTime", i64), nullable("dataChange", boolean), nullable("stats", str),
		nullable("tags", stringMap))),
	nullable("remove", arrow.StructOf(
		nullable("path", str), nullable("deletionTimestamp", i64), nullable("dataChange", boolean),
		nullable("extendedFileMetadata", boolean), nullable("partitionValues", stringMap), nullable("size", i64))),
	nullable("metaData", arrow.StructOf(
		nullable("id", str), nullable("name", str), nullable("description", str),
		nullable("format", arrow.StructOf(nullable("provider", str), nullable("options", stringMap))),
		nullable("schemaString", str), nullable("partitionColumns", arrow.ListOf(str)),
		nullable("configuration", stringMap), nullable("createdTime", i64))),
	nullable("protocol", arrow.StructOf(
		nullable("minReaderVersion", i32), nullable("minWriterVersion", i32),
		nullable("readerFeatures", arrow.ListOf(str)), nullable("writerFeatures", arrow.ListOf(str)))),
}, nil)

// checkpointRows builds the checkpoint content of s: protocol, metaData,
// txns, live adds (sorted by path) and the removes deleted after
// tombstoneCutoff (ms), every file action with dataChange false.
func (t *Table) checkpointRecord(s *snapshot, tombstoneCutoff int64) (arrow.RecordBatch, int64) {
	b := array.NewRecordBuilder(t.mem, checkpointSchema)
	defer b.Release()
	txnB, addB, remB, metaB, protB := b.Field(0).(*array.StructBuilder), b.Field(1).(*array.StructBuilder),
		b.Field(2).(*array.StructBuilder), b.Field(3).(*array.StructBuilder), b.Field(4).(*array.StructBuilder)
	rows := int64(0)
	row := func(set *array.StructBuilder) {
		for _, sb := range []*array.StructBuilder{txnB, addB, remB, metaB, protB} {
			if sb == set {
				sb.Append(true)
			} else {
				sb.AppendNull()
			}
		}
		rows++
	}
	// protocol
	row(protB)
	protB.FieldBuilder(0).(*array.Int32Builder).Append(s.protocol.MinReaderVersion)
	protB.FieldBuilder(1).(*array.Int32Builder).Append(s.protocol.MinWriterVersion)
	// Feature lists only at reader 3 / writer 7, null below.
	for i, fs := range map[int][]string{2: s.protocol.ReaderFeatures, 3: s.protocol.WriterFeatures} {
		lb := protB.FieldBuilder(i).(*array.ListBuilder)
		if (i == 2 && s.protocol.MinReaderVersion < 3) || (i == 3 && s.protocol.MinWriterVersion < 7) {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		for _, f := range fs {
			lb.ValueBuilder().(*array.StringBuilder).Append(f)
		}
	}
	// metaData
	row(metaB)
	m := s.meta
	metaB.FieldBuilder(0).(*array.StringBuilder).Append(m.ID)
	appendOptString(metaB.FieldBuilder(1).(*array.StringBuilder), m.Name)
	appendOptString(metaB.FieldBuilder(2).(*array.StringBuilder), m.Description)
	fb := metaB.FieldBuilder(3).(*array.StructBuilder)
	fb.Append(true)
	fb.FieldBuilder(0).(*array.StringBuilder).Append(m.Format.Provider)
	appendMap(fb.FieldBuilder(1).(*array.MapBuilder), m.Format.Options)
	metaB.FieldBuilder(4).(*array.StringBuilder).Append(m.SchemaString)
	lb := metaB.FieldBuilder(5).(*array.ListBuilder)
	lb.Append(true)
	for _, c := range m.PartitionColumns {
		lb.ValueBuilder().(*array.StringBuilder).Append(c)
	}
	appendMap(metaB.FieldBuilder(6).(*array.MapBuilder), m.Configuration)
	if m.CreatedTime != nil {
		metaB.FieldBuilder(7).(*array.Int64Builder).Append(*m.CreatedTime)
	} else {
		metaB.FieldBuilder(7).(*array.Int64Builder).AppendNull()
	}
	// txns
	apps := make([]string, 0, len(s.txns))
	for a := range s.txns {
		apps = append(apps, a)
	}
	slices.Sort(apps)
	for _, a := range apps {
		row(txnB)
		txnB.FieldBuilder(0).(*array.StringBuilder).Append(a)
		txnB.FieldBuilder(1).(*array.Int64Builder).Append(s.txns[a].Version)
		appendOptInt(txnB.FieldBuilder(2).(*array.Int64Builder), s.txns[a].LastUpdated)
	}
	// adds
	for _, p := range s.paths() {
		f := s.files[p]
		row(addB)
		addB.FieldBuilder(0).(*array.StringBuilder).Append(f.Path)
		appendPartitionValues(addB.FieldBuilder(1).(*array.MapBuilder), f.PartitionValues)
		addB.FieldBuilder(2).(*array.Int64Builder).Append(f.Size)
		addB.FieldBuilder(3).(*array.Int64Builder).Append(f.ModificationTime)
		addB.FieldBuilder(4).(*array.BooleanBuilder).Append(false)
		appendOptString(addB.FieldBuilder(5).(*array.StringBuilder), f.Stats)
		if f.Tags == nil {
			addB.FieldBuilder(6).(*array.MapBuilder).AppendNull()
		} else {
			appendMap(addB.FieldBuilder(6).(*array.MapBuilder), f.Tags)
		}
	}
	// removes young enough for vacuum to need them
	rps := make([]string, 0, len(s.removes))
	for p, r := range s.removes {
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp > tombstoneCutoff {
			rps = append(rps, p)
		}
	}
	slices.Sort(rps)
	for _, p := range rps {
		r := s.removes[p]
		row(remB)
		remB.FieldBuilder(0).(*array.StringBuilder).Append(r.Path)
		appendOptInt(remB.FieldBuilder(1).(*array.Int64Builder), r.DeletionTimestamp)
		remB.FieldBuilder(2).(*array.BooleanBuilder).Append(false)
		remB.FieldBuilder(3).(*array.BooleanBuilder).Append(r.ExtendedFileMetadata)
		if r.ExtendedFileMetadata {
			appendPartitionValues(remB.FieldBuilder(4).(*array.MapBuilder), r.PartitionValues)
		} else {
			remB.FieldBuilder(4).(*array.MapBuilder).AppendNull()
		}
		appendOptInt(remB.FieldBuilder(5).(*array.Int64Builder), r.Size)
	}
	return b.NewRecordBatch(), rows
}

func appendOptString(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
	} else {
		b.Append(s)
	}
}

func appendOptInt(b *array.Int64Builder, v *int64) {
	if v == nil {
		b.AppendNull()
	} else {
		b.Append(*v)
	}
}

func appendMap(b *array.MapBuilder, m map[string]string) {
	b.Append(true)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kb, ib := b.KeyBuilder().(*array.StringBuilder), b.ItemBuilder().(*array.StringBuilder)
	for _, k := range keys {
		kb.Append(k)
		ib.Append(m[k])
	}
}

// writeCheckpoint writes the checkpoint of version v and points
// _last_checkpoint at it (unless that already names a newer one).
func (t *Table) writeCheckpoint(ctx context.Context, v int64) error {
	s, err := t.replay(ctx, v, false)
	if err != nil {
		return err
	}
	if s.version != v {
		return fmt.Errorf("checkpoint %d: log ends at version %d", v, s.version)
	}
	if err := s.check(false); err != nil {
		return err
	}
	cutoff := t.now().Add(-t.opts.DeletedFileRetention).UnixMilli()
	rec, rows := t.checkpointRecord(s, cutoff)
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithStats(true), parquet.WithAllocator(t.mem))
	w, err := pqarrow.NewFileWriter(checkpointSchema, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(t.mem)))
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", v, err)
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return fmt.Errorf("checkpoint %d: %w", v, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("checkpoint %d: %w", v, err)
	}
	size := int64(buf.Len())
	if err := t.store.Put(ctx, t.root+checkpointName(v), &buf); err != nil {
		return fmt.Errorf("write checkpoint %d: %w", v, err)
	}
	lc, err := t.readLastCheckpoint(ctx)
	if err != nil {
		return err
	}
	if lc != nil && lc.Version >= v {
		return nil
	}
	js, err := json.Marshal(lastCheckpoint{Version: v, Size: rows, SizeInBytes: size, NumOfAddFiles: int64(len(s.files))})
	if err != nil {
		return err
	}
	if err := t.store.Put(ctx, t.root+lastCheckName, bytes.NewReader(js)); err != nil {
		return fmt.Errorf("write _last_checkpoint: %w", err)
	}
	return nil
}

// readCheckpoint replays the checkpoint of version v (parts files) into s.
func (t *Table) readCheckpoint(ctx context.Context, s *snapshot, v int64, parts int) error {
	var names []string
	if parts <= 1 {
		names = []string{checkpointName(v)}
	} else {
		for p := 1; p <= parts; p++ {
			names = append(names, fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", logDir, v, p, parts))
		}
	}
	for _, name := range names {
		b, err := t.readAll(ctx, t.root+name)
		if err != nil {
			return fmt.Errorf("read checkpoint %d: %w", v, err)
		}
		if err := t.replayCheckpointFile(ctx, s, b); err != nil {
			return fmt.Errorf("read checkpoint %s: %w", name, err)
		}
	}
	s.version, s.checkpoint = v, v
	return nil
}

func (t *Table) replayCheckpointFile(ctx context.Context, s *snapshot, b []byte) error {
	return table.DecodeParquet(ctx, b, t.mem, nil, func(rec arrow.RecordBatch) error {
		acts, err := checkpointActions(rec)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if err := s.apply(a); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkpointActions turns the rows of a checkpoint batch into actions.
func checkpointActions(rec arrow.RecordBatch) ([]action, error) {
	col := func(name string) *array.Struct {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		st, _ := rec.Column(idx[0]).(*array.Struct)
		return st
	}
	txn, add, rem, meta, prot := col("txn"), col("add"), col("remove"), col("metaData"), col("protocol")
	var out []action
	for i := 0; i < int(rec.NumRows()); i++ {
		switch {
		case valid(prot, i):
			r, _ := intAt(field(prot, "minReaderVersion"), i)
			w, _ := intAt(field(prot, "minWriterVersion"), i)
			out = append(out, action{Protocol: &protocolAction{MinReaderVersion: int32(r), MinWriterVersion: int32(w),
				ReaderFeatures: listAt(field(prot, "readerFeatures"), i), WriterFeatures: listAt(field(prot, "writerFeatures"), i)}})
		case valid(meta, i):
			m := &metadataAction{}
			m.ID, _ = strAt(field(meta, "id"), i)
			m.Name, _ = strAt(field(meta, "name"), i)
			m.Description, _ = strAt(field(meta, "description"), i)
			m.SchemaString, _ = strAt(field(meta, "schemaString"), i)
			m.PartitionColumns = listAt(field(meta, "partitionColumns"), i)
			m.Configuration = mapAt(field(meta, "configuration"), i)
			if ct, ok := intAt(field(meta, "createdTime"), i); ok {
				m.CreatedTime = &ct
			}
			if f, ok := field(meta, "format").(*array.Struct); ok && f != nil && f.IsValid(i) {
				m.Format.Provider, _ = strAt(field(f, "provider"), i)
				m.Format.Options = mapAt(field(f, "options"), i)
			}
			out = append(out, action{MetaData: m})
		case valid(txn, i):
			a := &txnAction{}
			a.AppID, _ = strAt(field(txn, "appId"), i)
			a.Version, _ = intAt(field(txn, "version"), i)
			if lu, ok := intAt(field(txn, "lastUpdated"), i); ok {
				a.LastUpdated = &lu
			}
			out = append(out, action{Txn: a})
		case valid(add, i):
			a := &addAction{}
			a.Path, _ = strAt(field(add, "path"), i)
			a.PartitionValues = partitionValuesAt(field(add, "partitionValues"), i)
			a.Size, _ = intAt(field(add, "size"), i)
			a.ModificationTime, _ = intAt(field(add, "modificationTime"), i)
			a.Stats, _ = strAt(field(add, "stats"), i)
			a.Tags = mapAt(field(add, "tags"), i)
			if dv, ok := field(add, "deletionVector").(*array.Struct); ok && dv != nil && dv.IsValid(i) {
				a.DeletionVector = json.RawMessage(`{}`)
			}
			out = append(out, action{Add: a})
		case valid(rem, i):
			r := &removeAction{}
			r.Path, _ = strAt(field(rem, "path"), i)
			if ts, ok := intAt(field(rem, "deletionTimestamp"), i); ok {
				r.DeletionTimestamp = &ts
			}
			if sz, ok := intAt(field(rem, "size"), i); ok {
				r.Size = &sz
			}
			if b, ok := field(rem, "extendedFileMetadata").(*array.Boolean); ok && b.IsValid(i) {
				r.ExtendedFileMetadata = b.Value(i)
			}
			r.PartitionValues = partitionValuesAt(field(rem, "partitionValues"), i)
			out = append(out, action{Remove: r})
		}
	}
	return out, nil
}

func valid(s *array.Struct, i int) bool { return s != nil && s.IsValid(i) }

func field(s *array.Struct, name string) arrow.Array {
	if s == nil {
		return nil
	}
	idx, ok := s.DataType().(*arrow.StructType).FieldIdx(name)
	if !ok {
		return nil
	}
	return s.Field(idx)
}

func strAt(a arrow.Array, i int) (string, bool) {
	if a == nil || a.IsNull(i) {
		return "", false
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.Binary:
		return string(a.Value(i)), true
	}
	return "", false
}

func intAt(a arrow.Array, i int) (int64, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	switch a := a.(type) {
	case *array.Int32:
		return int64(a.Value(i)), true
	case *array.Int64:
		return a.Value(i), true
	}
	return 0, false
}

func mapAt(a arrow.Array, i int) map[string]string {
	m, ok := a.(*array.Map)
	if !ok || m == nil || m.IsNull(i) {
		return nil
	}
	start, end := m.ValueOffsets(i)
	out := make(map[string]string, end-start)
	for j := start; j < end; j++ {
		k, _ := strAt(m.Keys(), int(j))
		v, _ := strAt(m.Items(), int(j))
		out[k] = v
	}
	return out
}

func listAt(a arrow.Array, i int) []string {
	l, ok := a.(*array.List)
	if !ok || l == nil || l.IsNull(i) {
		return nil
	}
	start, end := l.ValueOffsets(i)
	out := make([]string, 0, end-start)
	for j := start; j < end; j++ {
		s, _ := strAt(l.ListValues(), int(j))
		out = append(out, s)
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// cleanLog deletes log entries, checkpoints and checksum files older than
// LogRetention that precede the newest checkpoint not newer than the
// cutoff (the protocol's metadata cleanup), oldest first, so that an
// interrupted cleanup leaves a log without gaps.
func (t *Table) cleanLog(ctx context.Context) error {
	return t.cleanLogBefore(ctx, t.opts.LogRetention)
}

// cleanLogBefore is cleanLog with the log retention given.
func (t *Table) cleanLogBefore(ctx context.Context, retention time.Duration) error {
	l, err := t.list(ctx)
	if err != nil {
		return err
	}
	cutoff := t.now().Add(-retention)
	cutoffCommit := int64(-1)
	for v, o := range l.commits {
		if !o.LastModified.After(cutoff) && v > cutoffCommit {
			cutoffCommit = v
		}
	}
	keep := int64(-1)
	for _, v := range l.completeCheckpoints() {
		if v <= cutoffCommit {
			keep = v
		}
	}
	if keep < 0 {
		return nil
	}
	type victim struct {
		v   int64
		key string
	}
	var vs []victim
	for v, o := range l.commits {
		if v < keep {
			vs = append(vs, victim{v, o.Key})
		}
	}
	for v, fs := range l.checkpoints {
		if v < keep {
			for _, o := range fs {
				vs = append(vs, victim{v, o.Key})
			}
		}
	}
	for v, o := range l.crcs {
		if v < keep {
			vs = append(vs, victim{v, o.Key})
		}
	}
	slices.SortFunc(vs, func(a, b victim) int { return cmp.Compare(a.v, b.v) })
	for _, x := range vs {
		if err := t.store.Delete(ctx, x.key); err != nil {
			return fmt.Errorf("clean log: %w", err)
		}
	}
	return nil
}
