// Package reference is a naive classifier, a list scanned in full on every
// lookup, that the real classifier is checked against in tests.
package reference

import "github.com/dvs-project/dvs/internal/flow"

// Classifier holds rules in insertion order. It is not safe for concurrent
// use.
type Classifier struct {
	rules []*flow.Rule
}

// Insert adds r. Like the real classifier, it never replaces a rule; unlike
// it, it does not check for misuse, and always returns nil.
func (c *Classifier) Insert(r *flow.Rule) error {
	c.rules = append(c.rules, r)
	return nil
}

// Remove removes r (compared by pointer) and reports whether it was present.
func (c *Classifier) Remove(r *flow.Rule) bool {
	for i, x := range c.rules {
		if x == r {
			c.rules = append(c.rules[:i], c.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Lookup returns the highest-priority rule matching k, or nil. Among rules
// of equal priority it returns the one inserted first. If wc is not nil,
// Lookup sets in it the bits of every rule's mask: it looks at every rule,
// so that is what it examined.
func (c *Classifier) Lookup(k *flow.Key, wc *flow.Mask) *flow.Rule {
	var best *flow.Rule
	for _, r := range c.rules {
		if wc != nil {
			wc.Or(&r.Match.Mask)
		}
		if (best == nil || r.Priority > best.Priority) && r.Match.Matches(k) {
			best = r
		}
	}
	return best
}

// Find returns the first rule inserted whose match is exactly m and whose
// priority is priority, or nil.
func (c *Classifier) Find(m *flow.Match, priority uint16) *flow.Rule {
	for _, r := range c.rules {
		if r.Priority == priority && r.Match == *m {
			return r
		}
	}
	return nil
}

// Len returns the number of rules.
func (c *Classifier) Len() int { return len(c.rules) }

// Rules returns the rules in insertion order. The caller must not modify
// the slice.
func (c *Classifier) Rules() []*flow.Rule { return c.rules }
