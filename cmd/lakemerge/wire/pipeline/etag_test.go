package pipeline_test

import (
	"path/filepath"
	"strings"
	"testing"

	objlocal "github.com/lakemerge/lakemerge/objstore/local"
)

// TestFormerETagsUpgrade: a table absorbed while its local raw folder was
// listed with modification-time ETags (lakemerge before content hashes)
// is up to date when the folder is listed by content: nothing is taken
// for a rewritten file, no reload starts. Its next commit records the
// content ETags, keeping each object's generation.
func TestFormerETagsUpgrade(t *testing.T) {
	e := newEnv(t)
	g := newGen(3, 20)
	m := model{}
	var first []change1
	for range 10 {
		first = append(first, g.next())
	}
	e.write("LOAD00000001.csv", dmsFile(first, true))
	m.apply(first)
	cs := []change1{g.next(), g.next()}
	e.writeCDC(cs)
	m.apply(cs)
	e.run()
	old := e.bookmark()

	e.store = e.store.(*objlocal.Store).HashETags(filepath.Join(t.TempDir(), "etags.json"))
	if res := e.run(); !res.UpToDate {
		t.Fatalf("listing by content made old files pending: %+v", res)
	}
	if !e.bookmark().Equal(old) {
		t.Fatal("an up-to-date run changed the bookmark")
	}

	cs = []change1{g.next(), g.next()}
	e.writeCDC(cs)
	m.apply(cs)
	if res := e.run(); res.Files != 1 {
		t.Fatalf("next run: %+v", res)
	}
	bm := e.bookmark()
	if bm.Generation != old.Generation {
		t.Fatalf("generation %d, was %d", bm.Generation, old.Generation)
	}
	for i, en := range bm.Entries {
		if !strings.HasPrefix(en.ETag, `"`) {
			t.Errorf("entry %s keeps its former ETag %s", en.Key, en.ETag)
		}
		if i < len(old.Entries) && en.Key == old.Entries[i].Key && en.Gen != old.Entries[i].Gen {
			t.Errorf("entry %s: generation %d, was %d", en.Key, en.Gen, old.Entries[i].Gen)
		}
	}
	diff(t, "table", e.read(), m.render())
}
