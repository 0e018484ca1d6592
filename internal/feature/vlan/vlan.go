// Package vlan holds a port's VLAN mode (access, trunk or QinQ tunnel) and
// the rules NORMAL switching uses to decide which VLAN a frame belongs to on
// ingress and how it is tagged on egress.
package vlan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// Mode is how a port carries VLANs.
type Mode uint8

const (
	// Trunk with no allowed list carries every VLAN; it is the default, as
	// in Open vSwitch, so an unconfigured switch forwards everything.
	Trunk Mode = iota
	// Access carries one VLAN, untagged.
	Access
	// QinQ (dot1q-tunnel) puts every frame, tagged or not, into one service
	// VLAN by pushing an outer tag; the customer's tag is carried inside.
	QinQ
)

func (m Mode) String() string {
	switch m {
	case Access:
		return "access"
	case QinQ:
		return "qinq"
	default:
		return "trunk"
	}
}

// Set is a set of VLAN IDs 0..4095. Sets compare with ==.
type Set struct {
	w [4096 / 64]uint64
	// used has bit i set when w[i] is not zero: NORMAL asks whether a
	// trunk's list is empty (it carries every VLAN then) for every frame
	// it switches, which a 512-byte compare made a tenth of a translation.
	used uint64
}

// Add adds v to the set.
func (s *Set) Add(v uint16) {
	s.w[v/64] |= 1 << (v % 64)
	s.used |= 1 << (v / 64)
}

// Has reports whether v is in the set.
func (s *Set) Has(v uint16) bool { return s.w[v/64]&(1<<(v%64)) != 0 }

// IsEmpty reports whether the set has no member.
func (s *Set) IsEmpty() bool { return s.used == 0 }

// String prints the set as ranges: "10,20-30".
func (s *Set) String() string {
	var parts []string
	for v := 0; v < 4096; v++ {
		if !s.Has(uint16(v)) {
			continue
		}
		end := v
		for end+1 < 4096 && s.Has(uint16(end+1)) {
			end++
		}
		if end == v {
			parts = append(parts, strconv.Itoa(v))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", v, end))
		}
		v = end
	}
	return strings.Join(parts, ",")
}

// ErrRange is wrapped by errors for VLAN IDs outside 1..4094.
var ErrRange = errors.New("VLAN ID must be 1..4094")

// ParseSet parses a list of VLAN IDs and ranges such as "10,20-30".
func ParseSet(text string) (Set, error) {
	var s Set
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return s, fmt.Errorf("empty element in VLAN list %q", text)
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseVID(lo)
		if err != nil {
			return s, err
		}
		b := a
		if isRange {
			if b, err = parseVID(hi); err != nil {
				return s, err
			}
			if b < a {
				return s, fmt.Errorf("VLAN range %q runs backwards", part)
			}
		}
		for v := a; v <= b; v++ {
			s.Add(v)
		}
	}
	return s, nil
}

func parseVID(text string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("VLAN ID %q is not a number", text)
	}
	if err := CheckVID(n); err != nil {
		return 0, err
	}
	return uint16(n), nil
}

// CheckVID returns an error unless 1 <= v <= 4094.
func CheckVID(v int) error {
	if v < 1 || v > 4094 {
		return fmt.Errorf("VLAN %d: %w", v, ErrRange)
	}
	return nil
}

// Config is a port's VLAN configuration.
type Config struct {
	Mode Mode `json:"mode"`
	// Tag is the access VLAN or the QinQ service VLAN.
	Tag uint16 `json:"tag,omitempty"`
	// Trunks lists the VLANs a trunk carries; empty means all.
	Trunks Set `json:"-"`
	// Native is a trunk's native VLAN (untagged frames belong to it); 0 =
	// none, untagged frames are dropped. The native VLAN is sent untagged.
	Native uint16 `json:"native,omitempty"`
	// QinQTPID is the outer tag a QinQ port pushes: 0x88a8 (default) or 0x8100.
	QinQTPID uint16 `json:"qinq_tpid,omitempty"`
}

// Validate checks the configuration is complete and consistent.
func (c *Config) Validate() error {
	switch c.Mode {
	case Access, QinQ:
		if err := CheckVID(int(c.Tag)); err != nil {
			return err
		}
		if c.Native != 0 || !c.Trunks.IsEmpty() {
			return fmt.Errorf("an %s port takes no trunk list or native VLAN", c.Mode)
		}
		if c.Mode == QinQ && c.QinQTPID != 0 && c.QinQTPID != flow.EthTypeQinQ && c.QinQTPID != flow.EthTypeVLAN {
			return fmt.Errorf("QinQ ethertype must be 0x88a8 or 0x8100, not %#04x", c.QinQTPID)
		}
	case Trunk:
		if c.Tag != 0 {
			return errors.New("a trunk port has no access VLAN")
		}
		if c.Native != 0 {
			if err := CheckVID(int(c.Native)); err != nil {
				return fmt.Errorf("native %w", err)
			}
		}
	default:
		return fmt.Errorf("unknown VLAN mode %d", c.Mode)
	}
	return nil
}

// Carries reports whether the port belongs to VLAN v. VLAN 0 is the
// untagged traffic of trunks that carry every VLAN (the default port).
func (c *Config) Carries(v uint16) bool {
	switch c.Mode {
	case Access, QinQ:
		return v == c.Tag
	default:
		return c.Trunks.IsEmpty() || c.Trunks.Has(v) || (v == c.Native && v != 0)
	}
}

// String describes the configuration as the CLI shows it.
func (c *Config) String() string {
	switch c.Mode {
	case Access:
		return fmt.Sprintf("access vlan %d", c.Tag)
	case QinQ:
		return fmt.Sprintf("qinq vlan %d", c.Tag)
	}
	s := "trunk all"
	if !c.Trunks.IsEmpty() {
		s = "trunk " + c.Trunks.String()
	}
	if c.Native != 0 {
		s += fmt.Sprintf(" native %d", c.Native)
	}
	return s
}

// Frame is the VLAN view NORMAL switches a frame in: Outer is the tag of the
// VLAN being switched (TPID, TCI with flow.TCIPresent), Inner the tag carried
// inside it (zero if none).
type Frame struct {
	Outer flow.VLAN
	Inner flow.VLAN
}

// VID returns the VLAN the frame is switched in.
func (f Frame) VID() uint16 { return f.Outer.TCI & flow.TCIVIDMask }

// Ingress decides which VLAN a frame arriving with tags vl belongs to. It
// returns a reason when the port must drop the frame.
func (c *Config) Ingress(vl [2]flow.VLAN) (Frame, string) {
	outer, inner := vl[0], vl[1]
	tagged := outer.TCI&flow.TCIPresent != 0
	vid := outer.TCI & flow.TCIVIDMask
	switch c.Mode {
	case Access:
		// Untagged or priority-tagged (VID 0) frames belong to the access
		// VLAN; the priority is kept.
		if tagged && vid != 0 {
			return Frame{}, fmt.Sprintf("tagged frame (VLAN %d) on access port", vid)
		}
		if tagged && inner.TCI != 0 {
			return Frame{}, "double-tagged frame on access port"
		}
		return Frame{Outer: flow.VLAN{TPID: flow.EthTypeVLAN, TCI: outer.TCI&flow.TCIPCPMask | flow.TCIPresent | c.Tag}}, ""
	case QinQ:
		if inner.TCI != 0 {
			return Frame{}, "frame already has two tags on QinQ port"
		}
		tpid := c.QinQTPID
		if tpid == 0 {
			tpid = flow.EthTypeQinQ
		}
		return Frame{Outer: flow.VLAN{TPID: tpid, TCI: flow.TCIPresent | c.Tag}, Inner: outer}, ""
	default:
		if !tagged || vid == 0 {
			switch {
			case c.Native != 0:
				return Frame{Outer: flow.VLAN{TPID: flow.EthTypeVLAN, TCI: outer.TCI&flow.TCIPCPMask | flow.TCIPresent | c.Native}, Inner: inner}, ""
			case c.Trunks.IsEmpty():
				// A trunk of all VLANs (the default port) also carries
				// untagged traffic, as VLAN 0, as Open vSwitch does.
				return Frame{Inner: inner}, ""
			}
			return Frame{}, "untagged frame on trunk without native VLAN"
		}
		if !c.Carries(vid) {
			return Frame{}, fmt.Sprintf("VLAN %d not allowed on trunk", vid)
		}
		return Frame{Outer: outer, Inner: inner}, ""
	}
}

// Egress returns the tags a frame switched in VLAN f.VID() leaves this port
// with. The caller checked Carries.
func (c *Config) Egress(f Frame) [2]flow.VLAN {
	switch c.Mode {
	case Access, QinQ:
		return [2]flow.VLAN{f.Inner, {}}
	default:
		if f.Outer.TCI == 0 || (c.Native != 0 && f.VID() == c.Native) {
			return [2]flow.VLAN{f.Inner, {}}
		}
		return [2]flow.VLAN{f.Outer, f.Inner}
	}
}
