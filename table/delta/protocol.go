package delta

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// featureTimestampNtz is the table feature a timestamp_ntz column needs
// (PROTOCOL.md, "Timestamp without timezone"): reader 3 / writer 7 with
// the name in both readerFeatures and writerFeatures.
const featureTimestampNtz = "timestampNtz"

// The table features lakemerge implements. Readers must implement every
// feature in readerFeatures, writers every one in writerFeatures
// (PROTOCOL.md, "Table Features"). appendOnly and invariants are the
// features of legacy writer version 2, respected as at version 2: a table
// with delta.appendOnly=true or a column invariant is refused.
var (
	knownReaderFeatures = []string{featureTimestampNtz}
	knownWriterFeatures = []string{"appendOnly", "invariants", featureTimestampNtz}
)

// checkProtocol reports whether lakemerge can read p's table, and with
// forWrite write it: reader version 1, or 3 with known reader features;
// writer version 2 or lower, or 7 with known writer features.
func checkProtocol(p *protocolAction, forWrite bool) error {
	unknown := func(have, known []string) []string {
		var out []string
		for _, f := range have {
			if !slices.Contains(known, f) {
				out = append(out, f)
			}
		}
		return out
	}
	readOK := p.MinReaderVersion <= 1 || (p.MinReaderVersion == 3 && len(unknown(p.ReaderFeatures, knownReaderFeatures)) == 0)
	writeOK := p.MinWriterVersion <= 2 || (p.MinWriterVersion == 7 && len(unknown(p.WriterFeatures, knownWriterFeatures)) == 0)
	if readOK && (!forWrite || writeOK) {
		return nil
	}
	return fmt.Errorf("%w: the table needs Delta protocol reader %d / writer %d (reader features %v, writer features %v); lakemerge reads reader 1 and reader 3 tables with features %v, and writes writer 2 and writer 7 tables with features %v",
		ErrUnsupported, p.MinReaderVersion, p.MinWriterVersion, p.ReaderFeatures, p.WriterFeatures, knownReaderFeatures, knownWriterFeatures)
}

// supports reports whether p lists feature as a reader and writer feature.
func (p *protocolAction) supports(feature string) bool {
	return p.MinReaderVersion == 3 && p.MinWriterVersion == 7 &&
		slices.Contains(p.ReaderFeatures, feature) && slices.Contains(p.WriterFeatures, feature)
}

// requiredProtocol returns the protocol action a commit must carry so that
// a table with columns cols is valid, given its current protocol cur (nil:
// the commit creates the table), or nil when cur already suffices.
//
// A new table is created at reader 1 / writer 2, the version every reader
// reads, unless a column is timestamp_ntz: then reader 3 / writer 7 with
// the timestampNtz feature. An existing table that gains its first
// timestamp_ntz column is upgraded in the same commit: reader 3 / writer 7,
// its reader features plus timestampNtz, and its writer features plus
// timestampNtz, where a legacy writer version 2 counts as the features
// appendOnly and invariants (the protocol asks upgrades to assume that the
// features of the old version were used).
func requiredProtocol(cur *protocolAction, cols []column) *protocolAction {
	ntz := slices.ContainsFunc(cols, func(c column) bool { return c.typ.ID() == arrow.TIMESTAMP && !c.utc })
	switch {
	case cur == nil && !ntz:
		return &protocolAction{MinReaderVersion: 1, MinWriterVersion: 2}
	case cur == nil:
		return &protocolAction{MinReaderVersion: 3, MinWriterVersion: 7,
			ReaderFeatures: []string{featureTimestampNtz}, WriterFeatures: []string{featureTimestampNtz}}
	case !ntz || cur.supports(featureTimestampNtz):
		return nil
	}
	up := &protocolAction{MinReaderVersion: 3, MinWriterVersion: 7}
	if cur.MinReaderVersion == 3 {
		up.ReaderFeatures = slices.Clone(cur.ReaderFeatures)
	}
	switch {
	case cur.MinWriterVersion == 7:
		up.WriterFeatures = slices.Clone(cur.WriterFeatures)
	case cur.MinWriterVersion == 2:
		up.WriterFeatures = []string{"appendOnly", "invariants"}
	}
	for _, f := range []*[]string{&up.ReaderFeatures, &up.WriterFeatures} {
		if !slices.Contains(*f, featureTimestampNtz) {
			*f = append(*f, featureTimestampNtz)
		}
	}
	return up
}
