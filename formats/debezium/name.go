package debezium

import (
	"cmp"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/lakemerge/lakemerge/formats/internal/gunzip"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// Kind of an S3 sink object, from its name.
type Kind int

const (
	// KindValues is a file of record values: <topic>+<p>+<offset>.json.
	KindValues Kind = iota
	// KindKeys is the line-for-line matching file of record keys
	// (store.kafka.keys=true): <topic>+<p>+<offset>.keys.json.
	KindKeys
	// KindHeaders is the line-for-line matching file of record headers
	// (store.kafka.headers=true): <topic>+<p>+<offset>.headers.json.
	KindHeaders
)

func (k Kind) String() string {
	switch k {
	case KindValues:
		return "values"
	case KindKeys:
		return "keys"
	case KindHeaders:
		return "headers"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// infix is what a kind adds between the offset and ".json".
func (k Kind) infix() string {
	switch k {
	case KindKeys:
		return ".keys"
	case KindHeaders:
		return ".headers"
	}
	return ""
}

// Name is a parsed S3 sink object name.
type Name struct {
	Key         string // full object key as given
	Topic       string // Kafka topic
	Partition   int32  // Kafka partition
	StartOffset int64  // Kafka offset of the file's first record
	Kind        Kind
}

// ParseName classifies an object key written by the Confluent S3 sink with
// JsonFormat: the base name must be
//
//	<topic>+<partition>+<startOffset>[.keys|.headers].json[.gz]
//
// The folders before it are not looked at, so every partitioner's layout
// (partition=<p>/, time-based, field-based) is accepted; the file name alone
// carries topic, partition and start offset. The name is split from the
// right on '+' (topic names may contain dots, never '+'); the topic must be
// a legal Kafka topic name, the partition a non-negative int32 and the
// offset a non-negative int64 of any width. Anything else is an error;
// callers decide whether to skip.
func ParseName(key string) (Name, error) {
	stem, ok := gunzip.Stem(key, ".json")
	if !ok {
		return Name{}, fmt.Errorf("s3 sink file %q: name does not end in .json or .json.gz", key)
	}
	kind := KindValues
	if s, ok := strings.CutSuffix(stem, ".keys"); ok {
		stem, kind = s, KindKeys
	} else if s, ok := strings.CutSuffix(stem, ".headers"); ok {
		stem, kind = s, KindHeaders
	}
	i := strings.LastIndexByte(stem, '+')
	if i < 0 {
		return Name{}, fmt.Errorf("s3 sink file %q: name is not <topic>+<partition>+<offset>.json", key)
	}
	offText := stem[i+1:]
	stem = stem[:i]
	j := strings.LastIndexByte(stem, '+')
	if j < 0 {
		return Name{}, fmt.Errorf("s3 sink file %q: name is not <topic>+<partition>+<offset>.json", key)
	}
	topic, partText := stem[:j], stem[j+1:]
	if err := checkTopic(topic); err != nil {
		return Name{}, fmt.Errorf("s3 sink file %q: %v", key, err)
	}
	if !values.Numeral(partText) {
		return Name{}, fmt.Errorf("s3 sink file %q: partition %q is not a number", key, partText)
	}
	p, err := strconv.ParseInt(partText, 10, 32)
	if err != nil {
		return Name{}, fmt.Errorf("s3 sink file %q: partition %s out of range", key, partText)
	}
	if !values.Numeral(offText) {
		return Name{}, fmt.Errorf("s3 sink file %q: start offset %q is not a number", key, offText)
	}
	off, err := strconv.ParseInt(offText, 10, 64)
	if err != nil {
		return Name{}, fmt.Errorf("s3 sink file %q: start offset %s out of range", key, offText)
	}
	return Name{Key: key, Topic: topic, Partition: int32(p), StartOffset: off, Kind: kind}, nil
}

// checkTopic accepts legal Kafka topic names: 1 to 249 of [a-zA-Z0-9._-],
// not "." or "..".
func checkTopic(t string) error {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("topic %q is not a Kafka topic name", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic %q is not a Kafka topic name", t)
		}
	}
	return nil
}

// Sibling returns the key of the file of kind k that the sink wrote next to
// n (same folder, topic, partition, offset and compression): for a values
// file, its keys file is Sibling(KindKeys).
func (n Name) Sibling(k Kind) string {
	dir, base := path.Split(n.Key)
	ext := ".json"
	if strings.HasSuffix(base, ".gz") {
		ext += ".gz"
	}
	stem := strings.TrimSuffix(base, n.Kind.infix()+ext)
	return dir + stem + k.infix() + ext
}

// Compare orders files in apply order: by topic, then partition, then start
// offset (numerically), then kind (values, keys, headers), then key. It
// returns -1, 0 or +1.
func Compare(a, b Name) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
		return c
	}
	if c := cmp.Compare(a.StartOffset, b.StartOffset); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}
