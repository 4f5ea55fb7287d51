package tabletest

import (
	"sync"

	"github.com/lakemerge/lakemerge/objstore/fault"
)

// Gate is a fault.Injector that denies the writes (Put, CreateExclusive,
// Delete) of the keys its current rule matches, with fault.Denied: the
// permission error a folder that may not be written gives. Factories of
// backends without access policies (a folder, memory) wrap their
// warehouse in a fault.Store with a Gate and implement Backend.Deny with
// it.
type Gate struct {
	mu   sync.Mutex
	deny func(key string) bool
}

// Fault denies the writes the rule matches.
func (g *Gate) Fault(p fault.Point) fault.Kind {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deny != nil && p.Op.IsWrite() && g.deny(p.Key) {
		return fault.Denied
	}
	return fault.None
}

func (g *Gate) String() string { return "tabletest.Gate" }

// Deny makes the gate deny the writes of the keys match matches until undo
// is called.
func (g *Gate) Deny(match func(key string) bool) (undo func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deny = match
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.deny = nil
	}
}
