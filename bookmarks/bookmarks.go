// Package bookmarks defines the bookmark: the exact set of raw objects a
// table has absorbed, committed atomically with the table's data (in the
// Iceberg snapshot that holds the changes), so that state and data can
// never drift apart.
//
// An object is identified by key, ETag and size. A listed object whose key
// is not in the bookmark is fresh; one whose key is there with another ETag
// or size was rewritten in place (for DMS: a reloaded table). Nothing is
// inferred from modification times or name order, so late objects (a
// multipart upload that finished after its successors) are still found.
//
// # Encoding (version 1)
//
//	lmb1:<base64url, no padding, of zstd(JSON)>
//
// where JSON is
//
//	{"gen":G,"runs":R,"last":"key","objects":[["key","etag",size,gen],...]}
//
// objects sorted by key, keys unique. gen is the DMS load generation (see
// package merge), runs the number of runs that committed, last the last
// object absorbed, in apply order. An object's gen is the generation it was
// absorbed in; a three-element object (written before objects carried it)
// decodes with the bookmark's gen. The empty string decodes to the zero
// Bookmark (a table that absorbed nothing). Decoders reject other prefixes,
// so a future version is an explicit error rather than a misread.
package bookmarks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Entry identifies one raw object by Key, ETag and Size; in a Bookmark it
// also records the load generation it was absorbed in.
type Entry struct {
	Key  string
	ETag string
	Size int64
	// Gen is the generation the object was absorbed in (set by Advance;
	// listings leave it zero). It is not part of the object's identity.
	Gen uint32
	// Former is, in a listing, the ETag the store reported for the same
	// object before it changed how it computes ETags (see Pending); never
	// stored in a bookmark.
	Former string
	// Special is, in a listing, set on an entry that is not a readable
	// object (a symbolic link in a folder): what it is. Never stored in a
	// bookmark; such an entry absorbed (ignored on purpose) is stored
	// with its key only.
	Special string
}

// Same reports whether e and o are the same object version: key, ETag and
// size, whatever generation either was absorbed in.
func (e Entry) Same(o Entry) bool { return e.Key == o.Key && e.ETag == o.ETag && e.Size == o.Size }

// sameListed reports whether the absorbed entry e is the listed object l:
// the same version, or e holds l's former ETag (written before the store
// changed its ETags) and the same size.
func (e Entry) sameListed(l Entry) bool {
	return e.Same(l) || (l.Former != "" && e.Key == l.Key && e.ETag == l.Former && e.Size == l.Size)
}

// Bookmark is the set of raw objects a table absorbed. The zero value is a
// table that absorbed nothing. Values are immutable by convention: methods
// return new Bookmarks and never alias their inputs.
type Bookmark struct {
	// Entries are sorted by Key, keys unique.
	Entries []Entry
	// Generation is the current load generation of the table.
	Generation uint32
	// Runs counts the runs that committed changes.
	Runs int64
	// Last is the key of the last object absorbed, in apply order.
	Last string
}

// find returns the index of key in b.Entries and whether it is there.
func (b Bookmark) find(key string) (int, bool) {
	return slices.BinarySearchFunc(b.Entries, key, func(e Entry, k string) int { return strings.Compare(e.Key, k) })
}

// Contains reports whether b holds exactly e (key, ETag and size).
func (b Bookmark) Contains(e Entry) bool {
	i, ok := b.find(e.Key)
	return ok && b.Entries[i].Same(e)
}

// Absorbed returns the entry b holds for key (with the generation it was
// absorbed in) and whether b holds one.
func (b Bookmark) Absorbed(key string) (Entry, bool) {
	i, ok := b.find(key)
	if !ok {
		return Entry{}, false
	}
	return b.Entries[i], true
}

// Pending splits listed objects into fresh ones (key not in b) and changed
// ones (key in b with another ETag or size), each in the order listed.
// Objects b holds are dropped: exactly, or by their Former ETag (those are
// returned as stale, for the next commit to record with their new ETag, so
// that the former ETags fade out of bookmarks).
func (b Bookmark) Pending(listed []Entry) (fresh, changed, stale []Entry) {
	for _, e := range listed {
		i, ok := b.find(e.Key)
		switch {
		case !ok:
			fresh = append(fresh, e)
		case b.Entries[i].Same(e):
		case b.Entries[i].sameListed(e):
			e.Gen = b.Entries[i].Gen
			stale = append(stale, e)
		default:
			changed = append(changed, e)
		}
	}
	return fresh, changed, stale
}

// Advance returns the bookmark after absorbing objects (in apply order) in
// generation b.Generation: their entries, stamped with that generation,
// replace those with the same key, Runs grows by one and Last is the last
// of them. b is not modified.
func (b Bookmark) Advance(absorbed []Entry) Bookmark {
	next := Bookmark{Generation: b.Generation, Runs: b.Runs + 1, Last: b.Last}
	add := slices.Clone(absorbed)
	for i := range add {
		add[i].Gen = b.Generation
	}
	if len(add) > 0 {
		next.Last = add[len(add)-1].Key
	}
	slices.SortStableFunc(add, func(x, y Entry) int { return strings.Compare(x.Key, y.Key) })
	// Of duplicate keys among absorbed, the last one absorbed wins.
	add = dedupeLast(add)
	next.Entries = make([]Entry, 0, len(b.Entries)+len(add))
	i, j := 0, 0
	for i < len(b.Entries) || j < len(add) {
		switch {
		case j == len(add) || (i < len(b.Entries) && b.Entries[i].Key < add[j].Key):
			next.Entries = append(next.Entries, b.Entries[i])
			i++
		case i == len(b.Entries) || add[j].Key < b.Entries[i].Key:
			next.Entries = append(next.Entries, add[j])
			j++
		default: // same key: the absorbed version replaces the old one
			next.Entries = append(next.Entries, add[j])
			i++
			j++
		}
	}
	return next
}

// Refresh returns b with the ETag of each entry of listed (the stale ones
// of Pending) replaced by the listed one, keeping the generation it was
// absorbed in; keys b does not hold are left out. Runs and Last do not
// change. b is not modified.
func (b Bookmark) Refresh(listed []Entry) Bookmark {
	if len(listed) == 0 {
		return b
	}
	next := b
	next.Entries = slices.Clone(b.Entries)
	for _, l := range listed {
		if i, ok := next.find(l.Key); ok {
			next.Entries[i].ETag, next.Entries[i].Size = l.ETag, l.Size
		}
	}
	return next
}

// dedupeLast keeps the last of each run of equal keys in sorted es.
func dedupeLast(es []Entry) []Entry {
	out := es[:0]
	for i, e := range es {
		if i+1 < len(es) && es[i+1].Key == e.Key {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Equal reports whether a and b hold the same objects, generation, run
// count and last object.
func (b Bookmark) Equal(o Bookmark) bool {
	return b.Generation == o.Generation && b.Runs == o.Runs && b.Last == o.Last && slices.Equal(b.Entries, o.Entries)
}

// Summary is a one-line description for logs and status output.
func (b Bookmark) Summary() string {
	if len(b.Entries) == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d objects, generation %d, %d runs, last %s", len(b.Entries), b.Generation, b.Runs, b.Last)
}

const prefix = "lmb1:"

// ErrCorrupt is matched by Decode errors for values that are not a valid
// bookmark.
var ErrCorrupt = errors.New("corrupt bookmark")

type wire struct {
	Gen     uint32            `json:"gen"`
	Runs    int64             `json:"runs"`
	Last    string            `json:"last,omitempty"`
	Objects []json.RawMessage `json:"objects"`
}

// Encode returns the version-1 text form of b.
func (b Bookmark) Encode() (string, error) {
	w := wire{Gen: b.Generation, Runs: b.Runs, Last: b.Last, Objects: make([]json.RawMessage, len(b.Entries))}
	for i, e := range b.Entries {
		if i > 0 && b.Entries[i-1].Key >= e.Key {
			return "", fmt.Errorf("encode bookmark: entries not sorted and unique at %q", e.Key)
		}
		raw, err := json.Marshal([]any{e.Key, e.ETag, e.Size, e.Gen})
		if err != nil {
			return "", fmt.Errorf("encode bookmark: %w", err)
		}
		w.Objects[i] = raw
	}
	js, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encode bookmark: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return "", fmt.Errorf("encode bookmark: %w", err)
	}
	defer enc.Close()
	return prefix + base64.RawURLEncoding.EncodeToString(enc.EncodeAll(js, nil)), nil
}

// maxDecoded bounds the decompressed size of a bookmark (1 GiB).
const maxDecoded = 1 << 30

// Decode parses the text form of a bookmark; "" is the zero Bookmark.
// Errors match ErrCorrupt.
func Decode(s string) (Bookmark, error) {
	if s == "" {
		return Bookmark{}, nil
	}
	body, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return Bookmark{}, fmt.Errorf("decode bookmark: unknown version (want prefix %q): %w", prefix, ErrCorrupt)
	}
	z, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Bookmark{}, fmt.Errorf("decode bookmark: %w: %w", ErrCorrupt, err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecoded), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return Bookmark{}, fmt.Errorf("decode bookmark: %w", err)
	}
	defer dec.Close()
	js, err := dec.DecodeAll(z, nil)
	if err != nil {
		return Bookmark{}, fmt.Errorf("decode bookmark: %w: %w", ErrCorrupt, err)
	}
	var w wire
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Bookmark{}, fmt.Errorf("decode bookmark: %w: %w", ErrCorrupt, err)
	}
	b := Bookmark{Generation: w.Gen, Runs: w.Runs, Last: w.Last, Entries: make([]Entry, len(w.Objects))}
	for i, raw := range w.Objects {
		var tuple []json.RawMessage
		e := &b.Entries[i]
		e.Gen = w.Gen
		if err := json.Unmarshal(raw, &tuple); err != nil || len(tuple) < 3 || len(tuple) > 4 ||
			json.Unmarshal(tuple[0], &e.Key) != nil || json.Unmarshal(tuple[1], &e.ETag) != nil || json.Unmarshal(tuple[2], &e.Size) != nil ||
			(len(tuple) == 4 && json.Unmarshal(tuple[3], &e.Gen) != nil) {
			return Bookmark{}, fmt.Errorf("decode bookmark: object %d is not [key, etag, size, gen]: %w", i, ErrCorrupt)
		}
		if e.Gen > w.Gen {
			return Bookmark{}, fmt.Errorf("decode bookmark: object %d absorbed in generation %d, after the bookmark's %d: %w", i, e.Gen, w.Gen, ErrCorrupt)
		}
		if i > 0 && b.Entries[i-1].Key >= e.Key {
			return Bookmark{}, fmt.Errorf("decode bookmark: objects not sorted and unique at %q: %w", e.Key, ErrCorrupt)
		}
	}
	return b, nil
}
