package debezium

import (
	"slices"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		key       string
		topic     string
		partition int32
		offset    int64
		kind      Kind
		err       string // substring; "" for success
	}{
		{key: "topics/dbserver1.inventory.customers/partition=0/dbserver1.inventory.customers+0+0000000000.json", topic: "dbserver1.inventory.customers"},
		{key: "topics/t/partition=12/t+12+0000004096.json.gz", topic: "t", partition: 12, offset: 4096},
		{key: "topics/t/partition=1/t+1+0000000007.keys.json", topic: "t", partition: 1, offset: 7, kind: KindKeys},
		{key: "topics/t/partition=1/t+1+0000000007.keys.json.gz", topic: "t", partition: 1, offset: 7, kind: KindKeys},
		{key: "topics/t/partition=1/t+1+0000000007.headers.json", topic: "t", partition: 1, offset: 7, kind: KindHeaders},
		{key: "topics/my-topic_v2/year=2024/month=05/day=28/hour=19/my-topic_v2+3+0000000010.json", topic: "my-topic_v2", partition: 3, offset: 10},
		{key: "t+0+12345678901234.json", topic: "t", offset: 12345678901234},
		{key: "t+0+0.json", topic: "t"},
		{key: "a.b+c+0+0.json", err: "not a Kafka topic"},
		{key: "topics/t/t+0+0000000000.bin", err: ".json"},
		{key: "topics/t/t+0+0000000000.json.zst", err: ".json"},
		{key: "topics/t/t+0.json", err: "<topic>+<partition>+<offset>"},
		{key: "topics/t/t.json", err: "<topic>+<partition>+<offset>"},
		{key: "topics/t/+0+0.json", err: "not a Kafka topic"},
		{key: "topics/t/t+-1+0.json", err: "partition"},
		{key: "topics/t/t+x+0.json", err: "partition"},
		{key: "topics/t/t+2147483648+0.json", err: "out of range"},
		{key: "topics/t/t+0+-5.json", err: "start offset"},
		{key: "topics/t/t+0+9223372036854775808.json", err: "out of range"},
		{key: "topics/t/t+0+.json", err: "start offset"},
		{key: "topics/t/t+0+1.keys.headers.json", err: "offset"},
		{key: "", err: ".json"},
	} {
		n, err := ParseName(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseName(%q) = %+v, %v; want error containing %q", tc.key, n, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseName(%q): %v", tc.key, err)
			continue
		}
		want := Name{Key: tc.key, Topic: tc.topic, Partition: tc.partition, StartOffset: tc.offset, Kind: tc.kind}
		if n != want {
			t.Errorf("ParseName(%q) = %+v, want %+v", tc.key, n, want)
		}
	}
}

func TestSibling(t *testing.T) {
	for _, tc := range []struct{ key, keys, headers, values string }{
		{"topics/t/partition=0/t+0+0000000000.json", "topics/t/partition=0/t+0+0000000000.keys.json", "topics/t/partition=0/t+0+0000000000.headers.json", "topics/t/partition=0/t+0+0000000000.json"},
		{"t+0+5.keys.json.gz", "t+0+5.keys.json.gz", "t+0+5.headers.json.gz", "t+0+5.json.gz"},
	} {
		n, err := ParseName(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Sibling(KindKeys); got != tc.keys {
			t.Errorf("%s keys: %s, want %s", tc.key, got, tc.keys)
		}
		if got := n.Sibling(KindHeaders); got != tc.headers {
			t.Errorf("%s headers: %s, want %s", tc.key, got, tc.headers)
		}
		if got := n.Sibling(KindValues); got != tc.values {
			t.Errorf("%s values: %s, want %s", tc.key, got, tc.values)
		}
	}
}

func TestCompare(t *testing.T) {
	keys := []string{
		"topics/a/partition=0/a+0+0000000000.json",
		"topics/a/partition=0/a+0+0000000000.keys.json",
		"topics/a/partition=0/a+0+0000000900.json",
		"topics/a/partition=0/a+0+00000001000.json", // wider than the pad: still after 900
		"topics/a/partition=0/a+0+0000001000.json",  // the same offset, padded: key breaks the tie
		"topics/a/partition=1/a+1+0000000000.json",
		"topics/a/partition=10/a+10+0000000000.json",
		"topics/b/partition=0/b+0+0000000000.json",
	}
	var names []Name
	for i := len(keys) - 1; i >= 0; i-- {
		n, err := ParseName(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	slices.SortFunc(names, Compare)
	for i, n := range names {
		if n.Key != keys[i] {
			t.Errorf("position %d: %s, want %s", i, n.Key, keys[i])
		}
	}
}
