package apply

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"

	"github.com/lakemerge/lakemerge/bookmarks"
)

// State is what a prepared table's commit records about it (see the
// package doc). The zero State is a prepared table that nothing was
// committed to yet.
type State struct {
	// BaseTable names the base table the prepared table derives from.
	BaseTable string
	// Base is the digest of the base table's bookmark in the state the
	// prepared table reflects (BaseDigest); "" for none.
	Base string
	// BaseSnapshot is that state's Iceberg snapshot id or Delta version.
	BaseSnapshot int64
	// Fingerprint is prepared.Fingerprint of the definition the rows were
	// made with.
	Fingerprint string
	// Generation is the first part of the order key of every change the
	// prepared table holds since its latest catch-up or rebuild.
	Generation uint32
	// Runs counts the prepared table's commits.
	Runs int64
}

// The keys of the bookmark entries that hold a State.
const (
	entryBase       = "lakemerge-prepared/base"       // ETag: Base; Size: BaseSnapshot
	entryBaseTable  = "lakemerge-prepared/base-table" // ETag: BaseTable
	entryDefinition = "lakemerge-prepared/definition" // ETag: Fingerprint
)

// Bookmark encodes s as the bookmark its table's commit carries.
func (s State) Bookmark() bookmarks.Bookmark {
	return bookmarks.Bookmark{
		Entries: []bookmarks.Entry{ // sorted by key
			{Key: entryBase, ETag: s.Base, Size: s.BaseSnapshot},
			{Key: entryBaseTable, ETag: s.BaseTable},
			{Key: entryDefinition, ETag: s.Fingerprint},
		},
		Generation: s.Generation,
		Runs:       s.Runs,
	}
}

// StateOf decodes the State a prepared table's bookmark holds. The empty
// bookmark is the zero State; a bookmark of another kind (a base table's)
// is an error: the prepared table's target is some other table.
func StateOf(bm bookmarks.Bookmark) (State, error) {
	if len(bm.Entries) == 0 && bm.Runs == 0 {
		return State{}, nil
	}
	s := State{Generation: bm.Generation, Runs: bm.Runs}
	base, ok1 := bm.Absorbed(entryBase)
	table, ok2 := bm.Absorbed(entryBaseTable)
	def, ok3 := bm.Absorbed(entryDefinition)
	if !ok1 || !ok2 || !ok3 || len(bm.Entries) != 3 {
		return State{}, fmt.Errorf("its bookmark is not a prepared table's (%s): the target is some other table", bm.Summary())
	}
	s.Base, s.BaseSnapshot, s.BaseTable, s.Fingerprint = base.ETag, base.Size, table.ETag, def.ETag
	return s, nil
}

// BaseDigest identifies the state of a base table by its bookmark, which
// each commit of the base table changes: the hex SHA-256 of the
// bookmark's generation, runs, last key and entries. The empty bookmark
// (a base table that absorbed nothing) is "".
func BaseDigest(bm bookmarks.Bookmark) string {
	if len(bm.Entries) == 0 && bm.Runs == 0 {
		return ""
	}
	h := sha256.New()
	num := func(v uint64) { _ = binary.Write(h, binary.BigEndian, v) }
	str := func(h hash.Hash, s string) {
		num(uint64(len(s)))
		h.Write([]byte(s))
	}
	num(uint64(bm.Generation))
	num(uint64(bm.Runs))
	str(h, bm.Last)
	for _, e := range bm.Entries {
		str(h, e.Key)
		str(h, e.ETag)
		str(h, strconv.FormatInt(e.Size, 10))
		num(uint64(e.Gen))
	}
	return hex.EncodeToString(h.Sum(nil))
}
