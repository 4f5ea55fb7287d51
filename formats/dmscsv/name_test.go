package dmscsv

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		key     string
		kind    Kind
		instant string // RFC 3339 with nanoseconds, CDC only
		err     string // substring; "" for success
	}{
		{key: "raw/public/orders/LOAD00000001.csv", kind: KindLoad},
		{key: "LOAD0000000A.csv.gz", kind: KindLoad},
		{key: "s/t/LOAD00001.csv", kind: KindLoad},
		{key: "s/t/part1/LOAD1.csv", kind: KindLoad},
		{key: "s/t/SEGMENT1_LOAD00000001.csv", kind: KindLoad},
		{key: "s/t/SEGMENT12_LOAD0000000F.csv.gz", kind: KindLoad},
		{key: "s/t/20230905-151244585.csv", kind: KindCDC, instant: "2023-09-05T15:12:44.585Z"},
		{key: "s/t/2023/09/05/20230905-151244585.csv.gz", kind: KindCDC, instant: "2023-09-05T15:12:44.585Z"},
		{key: "20141029-1134010000.csv", kind: KindCDC, instant: "2014-10-29T11:34:01Z"},
		{key: "20141029-1134010001.csv", kind: KindCDC, instant: "2014-10-29T11:34:01.0001Z"},
		{key: "s/t/LOAD00000001.parquet", err: ".csv"},
		{key: "s/t/LOAD00000001.csv.zst", err: ".csv"},
		{key: "s/t/LOAD.csv", err: "LOAD<hex>"},
		{key: "s/t/LOAD0000000G.csv", err: "LOAD<hex>"},
		{key: "s/t/SEGMENT_LOAD00000001.csv", err: "SEGMENT"},
		{key: "s/t/SEGMENTx_LOAD00000001.csv", err: "SEGMENT"},
		{key: "s/t/SEGMENT1_LOAD.csv", err: "SEGMENT"},
		{key: "txn/CDC_TXN-20201117153046033.csv", err: "not supported yet"},
		{key: "s/t/20230905-15124458.csv", err: "yyyyMMdd"},
		{key: "s/t/20230905-15124458500.csv", err: "yyyyMMdd"},
		{key: "s/t/20230905_151244585.csv", err: "yyyyMMdd"},
		{key: "s/t/20231305-151244585.csv", err: "not a valid"},
		{key: "s/t/20230230-151244585.csv", err: "not a valid"},
		{key: "s/t/20230905-251244585.csv", err: "not a valid"},
		{key: "s/t/19690905-151244585.csv", err: "outside"},
		{key: "s/t/23000101-000000000.csv", err: "outside"},
		{key: "s/t/notes.txt", err: ".csv"},
		{key: "s/t/.csv", err: "yyyyMMdd"},
		{key: "", err: ".csv"},
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
		var want time.Time
		if tc.instant != "" {
			want, _ = time.Parse(time.RFC3339Nano, tc.instant)
		}
		if n.Key != tc.key || n.Kind != tc.kind || !n.Instant.Equal(want) || (tc.instant != "" && n.Instant.Location() != time.UTC) {
			t.Errorf("ParseName(%q) = %+v; want kind %v instant %v", tc.key, n, tc.kind, want)
		}
	}
}

func TestCompare(t *testing.T) {
	// Already in apply order.
	keys := []string{
		"t/LOAD00000001.csv",
		"t/LOAD00000002.csv",
		"t/LOAD0000000A.csv",
		"t/SEGMENT1_LOAD00000001.csv",
		"t/SEGMENT2_LOAD0000000B.csv",
		"t/20230905-151244585.csv",
		"t/a/20230905-151244586.csv", // later instant, key sorts before the next
		"t/20230905-1512445861.csv",  // 100µs later
		"t/2023/09/05/20230905-151244587.csv",
		"t/20230905-151244587.csv", // same instant: key order
		"t/20230906-000000000.csv.gz",
	}
	var names []Name
	for _, k := range keys {
		n, err := ParseName(k)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	for i := range names {
		for j := range names {
			got := Compare(names[i], names[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", keys[i], keys[j], got, want)
			}
		}
	}
	shuffled := slices.Clone(names)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, Compare)
	if !slices.Equal(shuffled, names) {
		t.Errorf("sorted order %v", shuffled)
	}
}
