package debezium

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestFormatOrder: values files in apply order (topic, partition, offset
// as a number), keys and headers files companions, anything else unknown
// with the reason; every key in exactly one list; no snapshot files.
func TestFormatOrder(t *testing.T) {
	keys := []string{
		"topics/t/partition=1/t+1+0000000010.json",
		"topics/t/partition=0/t+0+0000000100.json.gz",
		"topics/t/partition=0/t+0+0000000100.keys.json.gz",
		"topics/t/partition=0/t+0+20.json",
		"topics/t/partition=0/t+0+20.headers.json",
		"topics/t/_SUCCESS",
	}
	ordered, companions, unknown := Format{}.Order(keys)
	want := []string{"topics/t/partition=0/t+0+20.json", "topics/t/partition=0/t+0+0000000100.json.gz", "topics/t/partition=1/t+1+0000000010.json"}
	wantComp := []string{"topics/t/partition=0/t+0+0000000100.keys.json.gz", "topics/t/partition=0/t+0+20.headers.json"}
	if !slices.Equal(ordered, want) || !slices.Equal(companions, wantComp) {
		t.Fatalf("ordered %q, companions %q; want %q, %q", ordered, companions, want, wantComp)
	}
	if len(unknown) != 1 || unknown[0].Key != "topics/t/_SUCCESS" || unknown[0].Reason == nil {
		t.Fatalf("unknown %v", unknown)
	}
	for _, k := range keys {
		if (Format{}).IsSnapshot(k) {
			t.Errorf("IsSnapshot(%q)", k)
		}
	}
}

// opener serves the objects of a map, counting opens; a key mapped to an
// error fails with it.
type opener struct {
	objects map[string]string
	fail    error
	opens   atomic.Int64
}

func (o *opener) Open(_ context.Context, key string) (io.ReadCloser, error) {
	o.opens.Add(1)
	if o.fail != nil {
		return nil, o.fail
	}
	s, ok := o.objects[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func (o *opener) IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// TestFormatOpensKeysFile: Open reads the keys file beside the values file
// when the options need one (tombstones as deletes), not otherwise; a
// missing keys file is no error of Open (the decoder says what it
// needed), a failing one is.
func TestFormatOpensKeysFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	const key = "topics/t/partition=0/t+0+0000000000.json"
	values := `{"id":1,"__deleted":"false"}` + "\nnull\n"
	keys := &opener{objects: map[string]string{"topics/t/partition=0/t+0+0000000000.keys.json": "{\"id\":1}\n{\"id\":1}\n"}}
	drain := func(f Format) (*Decoder, error) {
		d, err := f.Open(ctx, strings.NewReader(values), key, 0, mem)
		if err != nil {
			return nil, err
		}
		for {
			rec, err := d.Next()
			if err != nil {
				d.Close()
				if err == io.EOF {
					return d, nil
				}
				return nil, err
			}
			rec.Release()
		}
	}
	opts := Options{Keys: []string{"id"}, Flattened: true, SinglePartition: true, Tombstones: "delete"}
	d, err := drain(Format{Options: opts, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.TombstoneDeletes != 1 || keys.opens.Load() != 1 {
		t.Fatalf("stats %+v after %d opens: the tombstone was not read as a delete", st, keys.opens.Load())
	}

	opts.Tombstones, opts.Keys = "skip", nil
	if d, err = drain(Format{Options: opts, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if d.Skipped() != 1 || keys.opens.Load() != 1 {
		t.Fatalf("skipped %d after %d opens; want 1 tombstone skipped and no keys file read", d.Skipped(), keys.opens.Load())
	}

	opts.Tombstones, opts.Keys = "delete", []string{"id"}
	if _, err := drain(Format{Options: opts, Keys: &opener{}}); err == nil || !strings.Contains(err.Error(), "needs the keys file") {
		t.Fatalf("missing keys file: %v", err)
	}
	broken := errors.New("connection reset")
	if _, err := drain(Format{Options: opts, Keys: &opener{fail: broken}}); !errors.Is(err, broken) || !strings.Contains(err.Error(), "open keys file of "+key) {
		t.Fatalf("failing keys file: %v", err)
	}
}
