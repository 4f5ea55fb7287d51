package delta

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// The actions of a Delta log entry that lakemerge writes or reads. Field
// order is the order they are written in.

type protocolAction struct {
	MinReaderVersion int32    `json:"minReaderVersion"`
	MinWriterVersion int32    `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

type formatSpec struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

type metadataAction struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           formatSpec        `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

type txnAction struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

type addAction struct {
	Path             string             `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"` // nil value: null
	Size             int64              `json:"size"`
	ModificationTime int64              `json:"modificationTime"`
	DataChange       bool               `json:"dataChange"`
	Stats            string             `json:"stats,omitempty"`
	Tags             map[string]string  `json:"tags,omitempty"`
	DeletionVector   json.RawMessage    `json:"deletionVector,omitempty"`
}

type removeAction struct {
	Path                 string             `json:"path"`
	DeletionTimestamp    *int64             `json:"deletionTimestamp,omitempty"`
	DataChange           bool               `json:"dataChange"`
	ExtendedFileMetadata bool               `json:"extendedFileMetadata,omitempty"`
	PartitionValues      map[string]*string `json:"partitionValues"`
	Size                 *int64             `json:"size,omitempty"`
	DeletionVector       json.RawMessage    `json:"deletionVector,omitempty"`
}

// stateRef is lakemerge's entry in a commitInfo: where the state file of the
// commit is (a key under the table root) and its digest. All values are
// strings, like the rest of commitInfo's maps.
type stateRef struct {
	State  string `json:"state"`
	SHA256 string `json:"sha256"`
	Runs   string `json:"runs"`
	// Journal and JournalSHA256 name the commit's journal, when it has
	// one (Txn.Journal; docs/format/journal.md).
	Journal       string `json:"journal,omitempty"`
	JournalSHA256 string `json:"journal_sha256,omitempty"`
}

// opRestore is the commitInfo operation of a log entry that restores the
// table to an earlier version (Spark's RESTORE, delta-rs' restore).
const opRestore = "RESTORE"

type commitInfoAction struct {
	Timestamp           int64             `json:"timestamp"`
	Operation           string            `json:"operation"`
	OperationParameters map[string]string `json:"operationParameters"`
	ReadVersion         *int64            `json:"readVersion,omitempty"`
	IsolationLevel      string            `json:"isolationLevel"`
	IsBlindAppend       bool              `json:"isBlindAppend"`
	OperationMetrics    map[string]string `json:"operationMetrics"`
	EngineInfo          string            `json:"engineInfo"`
	Lakemerge           *stateRef         `json:"lakemerge,omitempty"`
}

// UnmarshalJSON reads only what lakemerge needs from a commitInfo: its
// timestamp, lakemerge's state reference, and the operation, with the
// version or timestamp a RESTORE restored. Other writers put anything
// there (delta-rs writes numbers in operationMetrics), so nothing else is
// decoded and a malformed lakemerge entry is ignored.
func (c *commitInfoAction) UnmarshalJSON(b []byte) error {
	var raw struct {
		Timestamp  json.RawMessage            `json:"timestamp"`
		Operation  json.RawMessage            `json:"operation"`
		Parameters map[string]json.RawMessage `json:"operationParameters"`
		Lakemerge  json.RawMessage            `json:"lakemerge"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = commitInfoAction{}
	_ = json.Unmarshal(raw.Timestamp, &c.Timestamp)
	_ = json.Unmarshal(raw.Operation, &c.Operation)
	if c.Operation == opRestore {
		// RESTORE's parameters: the version restored (delta-rs writes
		// {"version":"1"}), or the time it was restored to (delta-rs:
		// "datetime", in ms; Spark: "timestamp").
		for _, k := range []string{"version", "timestamp", "datetime"} {
			var v any
			if json.Unmarshal(raw.Parameters[k], &v) != nil || v == nil {
				continue
			}
			if c.OperationParameters == nil {
				c.OperationParameters = map[string]string{}
			}
			c.OperationParameters[k] = fmt.Sprint(v)
		}
	}
	var ref stateRef
	if len(raw.Lakemerge) > 0 && json.Unmarshal(raw.Lakemerge, &ref) == nil && ref.State != "" {
		c.Lakemerge = &ref
	}
	return nil
}

// action is one line of a log entry: exactly one field is set. Actions
// lakemerge does not know (cdc, domainMetadata, …) are kept as raw JSON so
// that a conflict check sees them.
type action struct {
	CommitInfo *commitInfoAction `json:"commitInfo,omitempty"`
	Protocol   *protocolAction   `json:"protocol,omitempty"`
	MetaData   *metadataAction   `json:"metaData,omitempty"`
	Txn        *txnAction        `json:"txn,omitempty"`
	Remove     *removeAction     `json:"remove,omitempty"`
	Add        *addAction        `json:"add,omitempty"`
	other      string            // name of an action lakemerge does not know
}

// encodeActions writes actions as a log entry: one JSON object a line.
func encodeActions(acts []action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, a := range acts {
		if err := enc.Encode(a); err != nil {
			return nil, fmt.Errorf("encode action: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// knownActions are the top-level keys decodeActions understands.
var knownActions = map[string]bool{"commitInfo": true, "protocol": true, "metaData": true, "txn": true, "add": true, "remove": true}

// decodeActions parses a log entry. Blank lines are skipped.
func decodeActions(r io.Reader) ([]action, error) {
	br := bufio.NewReader(r)
	var out []action
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			// A failed read, not a malformed line: say so, whatever part
			// of the line arrived.
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			var keys map[string]json.RawMessage
			if jerr := json.Unmarshal(b, &keys); jerr != nil {
				return nil, fmt.Errorf("line %d: %w", line, jerr)
			}
			for k := range keys {
				if !knownActions[k] {
					out = append(out, action{other: k})
				}
			}
			var a action
			if jerr := json.Unmarshal(b, &a); jerr != nil {
				return nil, fmt.Errorf("line %d: %w", line, jerr)
			}
			if a.CommitInfo != nil || a.Protocol != nil || a.MetaData != nil || a.Txn != nil || a.Add != nil || a.Remove != nil {
				out = append(out, a)
			}
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}

// relKey turns an add or remove path (a URI-encoded path relative to the
// table root) into a store key under root.
func relKey(root, path string) (string, error) {
	if strings.Contains(path, "://") || strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("%w: absolute data file path %s", ErrUnsupported, path)
	}
	p, err := url.PathUnescape(path)
	if err != nil {
		return "", fmt.Errorf("data file path %s: %w", path, err)
	}
	return root + p, nil
}
