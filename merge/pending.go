package merge

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lakemerge/lakemerge/bookmarks"
)

// ErrUnknownFiles is matched by the error of a run that found objects
// under the table's prefix that are neither change files of its format
// nor matched by its Ignore globs.
var ErrUnknownFiles = errors.New("objects that are not change files")

// ErrNoRawFiles is matched by the error of a run of a table that has
// absorbed nothing yet and finds nothing under its prefix, or whose
// prefix's folder does not exist (Raw.List): most often a typo in the raw
// location or the table's source, or an unmounted volume.
var ErrNoRawFiles = errors.New("nothing to read")

// checkSource ends the errors of ErrNoRawFiles.
const checkSource = "check raw: and the table's source (schema, table, prefix or topic) in the job file"

// Pending is what a table has not absorbed yet, as its bookmark sees the
// raw zone.
type Pending struct {
	Files      []bookmarks.Entry // change files, in apply order
	Companions []bookmarks.Entry // read with their change files (Format.Order)
	Ignored    []bookmarks.Entry // not change files, matched by Table.Ignore
	Unknown    []Unknown         // not change files and not ignored
	// Stale are absorbed objects the bookmark holds under their former
	// ETag (bookmarks.Bookmark.Pending); the next commit records their
	// current one.
	Stale []bookmarks.Entry
	// Listed is how many objects the prefix holds, absorbed or not.
	Listed int

	fresh, changed []bookmarks.Entry // for the reload rule
}

// Pending lists the table's prefix and sorts what base has not absorbed
// (objects that are new or whose ETag or size changed) into change files in
// apply order, companions, ignored and unknown objects. It reads no file.
func (t *Table) Pending(ctx context.Context, base bookmarks.Bookmark) (Pending, error) {
	var p Pending
	listed, err := t.Raw.List(ctx, t.Prefix)
	if errors.Is(err, ErrNoRawFiles) {
		// Whether or not the table absorbed files: nothing to read is
		// not "up to date" when the folder itself is gone.
		// Raw's errors name the location (its contract).
		return p, fmt.Errorf("%w; %s", err, checkSource)
	}
	if err != nil {
		return p, err
	}
	p.Listed = len(listed)
	p.fresh, p.changed, p.Stale = base.Pending(listed)
	byKey := make(map[string]bookmarks.Entry, len(p.fresh)+len(p.changed))
	keys := make([]string, 0, len(p.fresh)+len(p.changed))
	for _, e := range append(append([]bookmarks.Entry(nil), p.fresh...), p.changed...) {
		byKey[e.Key] = e
		if e.Special != "" {
			// Not an object (a symbolic link...): not the format's to judge.
			if t.ignored(e.Key) {
				p.Ignored = append(p.Ignored, bookmarks.Entry{Key: e.Key})
			} else {
				p.Unknown = append(p.Unknown, Unknown{Key: e.Key, Reason: errors.New(e.Special)})
			}
			continue
		}
		keys = append(keys, e.Key)
	}
	isSpecial := func(e bookmarks.Entry) bool { return e.Special != "" }
	p.fresh = slices.DeleteFunc(p.fresh, isSpecial)
	p.changed = slices.DeleteFunc(p.changed, isSpecial)
	ordered, companions, unknown := t.Format.Order(keys)
	for _, k := range ordered {
		p.Files = append(p.Files, byKey[k])
	}
	for _, k := range companions {
		p.Companions = append(p.Companions, byKey[k])
	}
	for _, u := range unknown {
		if t.ignored(u.Key) {
			p.Ignored = append(p.Ignored, byKey[u.Key])
		} else {
			p.Unknown = append(p.Unknown, u)
		}
	}
	return p, nil
}

// Check returns the error a run stops with when the pending objects cannot
// be absorbed as they are: unknown objects (ErrUnknownFiles), or a table
// that has absorbed nothing and finds nothing (ErrNoRawFiles). Nothing is
// skipped unseen: an object is either read, or ignored because the job
// file says so.
func (p Pending) Check(t *Table, base bookmarks.Bookmark) error {
	if n := len(p.Unknown); n > 0 {
		u := p.Unknown[0]
		return fmt.Errorf("%w: %d object(s) under %s cannot be read as change files, the first %s: %v; "+
			"fix or move them, or list them in the table's ignore: globs in the job file to skip them on purpose",
			ErrUnknownFiles, n, t.rawLocation(), u.Key, u.Reason)
	}
	if p.Listed == 0 && len(base.Entries) == 0 {
		return fmt.Errorf("%w: no objects under %s and nothing absorbed yet: %s", ErrNoRawFiles, t.rawLocation(), checkSource)
	}
	return nil
}

// RawEmptied returns the warning for a raw location that lists no objects
// at all while base holds absorbed files, "" otherwise. It is not an
// error: a lifecycle rule that expires absorbed raw files empties the
// prefix, and the table is then up to date. But on S3, which has no
// folders to miss, a mistyped raw: location or source looks the same, and
// only this warning tells them apart from "no new files".
func (p Pending) RawEmptied(t *Table, base bookmarks.Bookmark) string {
	if p.Listed > 0 || len(base.Entries) == 0 {
		return ""
	}
	return fmt.Sprintf("raw location %s lists no objects; %d files were absorbed from it "+
		"(expired by a lifecycle rule, or %s)", t.rawLocation(), len(base.Entries), checkSource)
}

// ignored reports whether key matches one of the table's Ignore globs: a
// glob with a slash matches the key relative to the table's prefix, one
// without a slash matches the object's base name in any folder (as in
// .gitignore).
func (t *Table) ignored(key string) bool {
	rel := strings.TrimPrefix(key, t.Prefix)
	for _, g := range t.Ignore {
		name := rel
		if !strings.Contains(g, "/") {
			name = path.Base(rel)
		}
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func (t *Table) rawLocation() string {
	if t.RawLocation != "" {
		return t.RawLocation
	}
	return t.Prefix
}
