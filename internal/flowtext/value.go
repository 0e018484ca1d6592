package flowtext

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// parseUint parses a decimal or 0x-prefixed hexadecimal number of at most
// max. Unlike strconv with base 0, a leading zero does not mean octal.
func parseUint(s string, max uint64) (uint64, error) {
	var v uint64
	var err error
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		if strings.ContainsAny(s[2:], "+-_") {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		v, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		if s == "" || strings.ContainsAny(s, "+-_") {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range (at most %d)", s, max)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v > max {
		return 0, fmt.Errorf("%s is out of range (at most %d)", s, max)
	}
	return v, nil
}

func parseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, fmt.Errorf("%q is not a MAC address", s)
	}
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return mac, fmt.Errorf("%q is not a MAC address", s)
		}
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return mac, fmt.Errorf("%q is not a MAC address", s)
		}
		mac[i] = byte(b)
	}
	return mac, nil
}

func formatMAC(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func parseIPv4(s string) (uint32, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%q is not an IPv4 address", s)
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]), nil
}

func formatIPv4(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b).String()
}

func parseIPv6(s string) ([16]byte, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return [16]byte{}, fmt.Errorf("%q is not an IPv6 address", s)
	}
	return a.As16(), nil
}

func formatIPv6(b [16]byte) string { return netip.AddrFrom16(b).String() }

// prefixLen returns the length of the prefix that mask (a big-endian value
// of width bits, right-aligned) is, or -1 if mask is not a prefix.
func prefixLen(mask flow.Value, width int) int {
	n := 0
	seenZero := false
	for i := 128 - width; i < 128; i++ {
		bit := mask[i/8]>>(7-i%8)&1 == 1
		switch {
		case bit && seenZero:
			return -1
		case bit:
			n++
		default:
			seenZero = true
		}
	}
	return n
}

func prefixMask(n, width int) flow.Value {
	var v flow.Value
	for i := 128 - width; i < 128-width+n; i++ {
		v[i/8] |= 1 << (7 - i%8)
	}
	return v
}

// Reserved port names, as ovs-ofctl prints them.
var reservedPorts = []struct {
	name string
	port uint32
}{
	{"IN_PORT", flow.PortInPort},
	{"TABLE", flow.PortTable},
	{"NORMAL", flow.PortNormal},
	{"FLOOD", flow.PortFlood},
	{"ALL", flow.PortAll},
	{"CONTROLLER", flow.PortController},
	{"LOCAL", flow.PortLocal},
	{"ANY", flow.PortAny},
	{"NONE", flow.PortNone},
}

// maxPortNumber is the highest ordinary port number. Open vSwitch port
// numbers are 16 bits with 0xff00 and up reserved, so ovs-ofctl rejects
// larger ones; dvs does the same so that rules move between the two.
const maxPortNumber = 0xfeff

func reservedPortByName(s string) (uint32, bool) {
	for _, r := range reservedPorts {
		if strings.EqualFold(s, r.name) {
			return r.port, true
		}
	}
	return 0, false
}

// parsePort parses a port number, reserved port name or port name. A
// quoted string is always a name.
func parsePort(s string, o *options) (uint32, error) {
	if strings.HasPrefix(s, "\"") {
		name, n, err := unquote(s)
		if err != nil {
			return 0, err
		}
		if n != len(s) {
			return 0, fmt.Errorf("unexpected text after quoted name in %s", s)
		}
		return lookupPort(name, o)
	}
	if s == "" {
		return 0, errors.New("missing port")
	}
	if s[0] >= '0' && s[0] <= '9' {
		v, err := parseUint(s, 0xffffffff)
		if err != nil {
			return 0, err
		}
		switch {
		case v <= maxPortNumber:
			return uint32(v), nil
		case v >= 0xfff8 && v <= 0xffff:
			// OpenFlow 1.0 spelling of a reserved port.
			return uint32(v) - 0xfff8 + flow.PortInPort, nil
		case v >= uint64(flow.PortInPort):
			return uint32(v), nil
		}
		return 0, fmt.Errorf("port %s is out of range (0 to %d, or a reserved port)", s, maxPortNumber)
	}
	if p, ok := reservedPortByName(s); ok {
		return p, nil
	}
	return lookupPort(s, o)
}

type unknownPortError struct{ name string }

func (e *unknownPortError) Error() string { return fmt.Sprintf("unknown port %q", e.name) }
func (e *unknownPortError) Unwrap() error { return ErrUnknownPort }

func lookupPort(name string, o *options) (uint32, error) {
	if o != nil && o.portByName != nil {
		if p, ok := o.portByName(name); ok {
			return p, nil
		}
	}
	return 0, &unknownPortError{name}
}

// portError turns an error from parsePort into an *Error for it.
func portError(it item, err error) *Error {
	var u *unknownPortError
	if errors.As(err, &u) {
		return &Error{Token: it.text, Name: u.name, Err: ErrUnknownPort}
	}
	return wrapError(it, err)
}

// formatPort prints a port as ovs-ofctl does: reserved ports by name,
// others by number, or by the name that portName gives.
func formatPort(p uint32, portName func(uint32) (string, bool)) string {
	if p >= flow.PortInPort {
		for _, r := range reservedPorts {
			if r.port == p {
				return r.name
			}
		}
	}
	if portName != nil {
		if name, ok := portName(p); ok && name != "" {
			if safeName(name) {
				return name
			}
			return quote(name)
		}
	}
	return strconv.FormatUint(uint64(p), 10)
}

// safeName reports whether a port name can be printed without quotes: it
// could not be mistaken for a number or a reserved port and contains no
// delimiters.
func safeName(s string) bool {
	if _, ok := reservedPortByName(s); ok {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// fieldFits reports whether v has no bits beyond f's width.
func fieldFits(f *flow.Field, v flow.Value) bool { return v.And(f.Ones()) == v }

// parseScalar parses one value (no mask) of field f.
func parseScalar(f *flow.Field, s string, o *options) (flow.Value, error) {
	switch f.Format {
	case flow.FormatMAC:
		mac, err := parseMAC(s)
		return flow.ValueBytes(mac[:]), err
	case flow.FormatIPv4:
		ip, err := parseIPv4(s)
		return flow.ValueOf(uint64(ip)), err
	case flow.FormatIPv6:
		ip, err := parseIPv6(s)
		return flow.Value(ip), err
	case flow.FormatPort:
		p, err := parsePort(s, o)
		return flow.ValueOf(uint64(p)), err
	}
	max := uint64(1)<<f.Bits - 1
	if f.Bits >= 64 {
		max = ^uint64(0)
	}
	v, err := parseUint(s, max)
	return flow.ValueOf(v), err
}

// parseFieldValue parses "value" or "value/mask" for field f. A mask is
// accepted only if allowMask; for IP addresses it may be a prefix length.
// A mask on a field that cannot be masked must be all ones.
func parseFieldValue(f *flow.Field, s string, allowMask bool, o *options) (v, mask flow.Value, err error) {
	valText, maskText, hasMask := strings.Cut(s, "/")
	if f.Format == flow.FormatPort {
		// Quoted port names may contain '/'.
		valText, hasMask = s, false
	}
	if valText == "" {
		return v, mask, errors.New("missing value")
	}
	v, err = parseScalar(f, valText, o)
	if err != nil {
		return v, mask, err
	}
	if !hasMask {
		return v, f.Ones(), nil
	}
	if !allowMask {
		return v, mask, fmt.Errorf("%s cannot be masked here", f.Name)
	}
	switch f.Format {
	case flow.FormatIPv4, flow.FormatIPv6:
		if maskText != "" && !strings.ContainsAny(maskText, ".:") {
			n, perr := parseUint(maskText, uint64(f.Bits))
			if perr != nil {
				return v, mask, fmt.Errorf("bad prefix length /%s", maskText)
			}
			mask = prefixMask(int(n), int(f.Bits))
			break
		}
		mask, err = parseScalar(f, maskText, o)
	default:
		mask, err = parseScalar(f, maskText, o)
	}
	if err != nil {
		return v, mask, fmt.Errorf("bad mask: %v", err)
	}
	if !f.Maskable && mask != f.Ones() {
		return v, mask, fmt.Errorf("%s cannot be masked", f.Name)
	}
	return v, mask, nil
}

// formatValue prints an exact value of field f.
func formatValue(f *flow.Field, v flow.Value, portName func(uint32) (string, bool)) string {
	switch f.Format {
	case flow.FormatMAC:
		return formatMAC(v[10:])
	case flow.FormatIPv4:
		return formatIPv4(uint32(v.U64()))
	case flow.FormatIPv6:
		return formatIPv6(v)
	case flow.FormatPort:
		return formatPort(uint32(v.U64()), portName)
	case flow.FormatHex:
		switch f.ID {
		case flow.FieldEthType, flow.FieldVLANTCI:
			return fmt.Sprintf("0x%04x", v.U64())
		case flow.FieldIPv6Label:
			return fmt.Sprintf("0x%05x", v.U64())
		}
		return fmt.Sprintf("0x%x", v.U64())
	}
	return strconv.FormatUint(v.U64(), 10)
}

// formatMasked prints value/mask of field f as ovs-ofctl does: no mask when
// exact, prefix lengths for CIDR masks, hexadecimal for masked integers.
func formatMasked(f *flow.Field, v, mask flow.Value) string {
	if mask == f.Ones() {
		return formatValue(f, v, nil)
	}
	switch f.Format {
	case flow.FormatMAC:
		return formatMAC(v[10:]) + "/" + formatMAC(mask[10:])
	case flow.FormatIPv4, flow.FormatIPv6:
		s := formatValue(f, v, nil) + "/"
		if n := prefixLen(mask, int(f.Bits)); n >= 0 {
			return s + strconv.Itoa(n)
		}
		return s + formatValue(f, mask, nil)
	}
	if f.ID == flow.FieldIPv6Label {
		return fmt.Sprintf("0x%05x/0x%05x", v.U64(), mask.U64())
	}
	return fmt.Sprintf("0x%x/0x%x", v.U64(), mask.U64())
}

// TCP flag names, by bit, as Open vSwitch prints them.
var tcpFlagNames = [12]string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"}

func tcpFlagByName(s string) (uint16, bool) {
	for i, n := range tcpFlagNames {
		if s == n {
			return 1 << i, true
		}
	}
	return 0, false
}

// parseTCPFlags parses tcp_flags as ovs-ofctl does: a number with optional
// mask, "+syn-ack" (each named flag must be set or clear, others ignored) or,
// as ovs-ofctl prints an exact match, "syn|ack".
func parseTCPFlags(s string, allowMask bool) (v, mask uint16, err error) {
	const all = 0x0fff
	if s == "" {
		return 0, 0, errors.New("missing value")
	}
	if s[0] >= '0' && s[0] <= '9' {
		valText, maskText, hasMask := strings.Cut(s, "/")
		x, err := parseUint(valText, all)
		if err != nil {
			return 0, 0, err
		}
		if !hasMask {
			return uint16(x), all, nil
		}
		if !allowMask {
			return 0, 0, errors.New("tcp_flags cannot be masked here")
		}
		m, err := parseUint(maskText, all)
		if err != nil {
			return 0, 0, fmt.Errorf("bad mask: %v", err)
		}
		return uint16(x) & uint16(m), uint16(m), nil
	}
	if s[0] == '+' || s[0] == '-' {
		if !allowMask {
			return 0, 0, errors.New("tcp_flags cannot be masked here (use flag|flag)")
		}
		for len(s) > 0 {
			set := s[0] == '+'
			if s[0] != '+' && s[0] != '-' {
				return 0, 0, fmt.Errorf("expected + or - before %q", s)
			}
			s = s[1:]
			n := strings.IndexAny(s, "+-")
			if n < 0 {
				n = len(s)
			}
			bit, ok := tcpFlagByName(s[:n])
			if !ok {
				return 0, 0, fmt.Errorf("unknown TCP flag %q", s[:n])
			}
			if mask&bit != 0 {
				return 0, 0, fmt.Errorf("TCP flag %q given twice", s[:n])
			}
			mask |= bit
			if set {
				v |= bit
			}
			s = s[n:]
		}
		return v, mask, nil
	}
	for _, name := range strings.Split(s, "|") {
		bit, ok := tcpFlagByName(name)
		if !ok {
			return 0, 0, fmt.Errorf("unknown TCP flag %q", name)
		}
		v |= bit
	}
	return v, all, nil
}

func formatTCPFlags(v, mask uint16) string {
	var b strings.Builder
	if mask == 0x0fff {
		if v == 0 {
			return "0"
		}
		for i, n := range tcpFlagNames {
			if v&(1<<i) != 0 {
				if b.Len() > 0 {
					b.WriteByte('|')
				}
				b.WriteString(n)
			}
		}
		return b.String()
	}
	for i, n := range tcpFlagNames {
		bit := uint16(1) << i
		if mask&bit == 0 {
			continue
		}
		if v&bit != 0 {
			b.WriteByte('+')
		} else {
			b.WriteByte('-')
		}
		b.WriteString(n)
	}
	return b.String()
}

// parseFrag parses nw_frag: no, yes, first, later, not_later or a number
// with optional mask.
func parseFrag(s string, packet bool) (v, mask uint8, err error) {
	const any, later, all = flow.FragAny, flow.FragLater, flow.FragMask
	if packet {
		switch s {
		case "no":
			return 0, all, nil
		case "first":
			return any, all, nil
		case "later":
			return any | later, all, nil
		case "yes", "not_later":
			return 0, 0, fmt.Errorf("a packet is nw_frag=no, first or later, not %s", s)
		}
	} else {
		switch s {
		case "no":
			return 0, any, nil
		case "yes":
			return any, any, nil
		case "first":
			return any, all, nil
		case "later":
			return any | later, all, nil
		case "not_later":
			return 0, later, nil
		}
	}
	valText, maskText, hasMask := strings.Cut(s, "/")
	x, err := parseUint(valText, all)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not no, yes, first, later, not_later or a number", s)
	}
	if !hasMask {
		return uint8(x), all, nil
	}
	if packet {
		return 0, 0, errors.New("nw_frag cannot be masked here")
	}
	m, err := parseUint(maskText, all)
	if err != nil {
		return 0, 0, fmt.Errorf("bad mask: %v", err)
	}
	return uint8(x) & uint8(m), uint8(m), nil
}

func formatFrag(v, mask uint8, packet bool) string {
	const any, later, all = flow.FragAny, flow.FragLater, flow.FragMask
	switch {
	case mask == any && v == 0:
		return "no"
	case mask == any && v == any:
		return "yes"
	case mask == all && v == any:
		return "first"
	case mask == all && v == any|later:
		return "later"
	case mask == later && v == 0:
		return "not_later"
	case packet && mask == all && v == 0:
		return "no"
	case mask == all:
		return strconv.Itoa(int(v))
	}
	return fmt.Sprintf("0x%x/0x%x", v, mask)
}
