// Package flowtext reads and writes flow rules, matches, actions and packet
// descriptions in the text syntax of ovs-ofctl add-flow, dump-flows and
// ofproto/trace, so that what users type and what dvs prints agree with
// Open vSwitch.
package flowtext

import (
	"errors"
	"fmt"
	"strings"
)

// Errors wrapped by *Error. Errors for missing match prerequisites wrap
// flow.ErrPrereq.
var (
	ErrUnknownField  = errors.New("unknown field")
	ErrUnknownAction = errors.New("unknown action")
	ErrUnknownPort   = errors.New("unknown port")
	ErrNotSupported  = errors.New("not supported")
)

// Error is returned for text that does not parse. Token is the offending item
// as written (for example "tp_dst=80"), so the user can find it in a long
// line.
type Error struct {
	Token string
	// Name is set for an unknown name (field, action or port): the name.
	Name string
	Err  error
}

func (e *Error) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("%v %q at %q", e.Err, e.Name, e.Token)
	}
	return fmt.Sprintf("parsing %q: %v", e.Token, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// textError is an error with its own text that still matches a sentinel
// with errors.Is.
type textError struct {
	msg string
	err error
}

func (e *textError) Error() string { return e.msg }
func (e *textError) Unwrap() error { return e.err }

func errorf(sentinel error, format string, args ...any) error {
	return &textError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

func tokenError(it item, format string, args ...any) *Error {
	return &Error{Token: it.text, Err: fmt.Errorf(format, args...)}
}

func wrapError(it item, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Token: it.text, Err: err}
}

// Option configures parsing.
type Option func(*options)

type options struct {
	portByName func(string) (uint32, bool)
}

// WithPortNames resolves port names, so that in_port=vm1 and output:vm1
// work. Reserved names (LOCAL, NORMAL, ...) and numbers are recognised
// without it; a quoted name ("vm1") is always looked up as a name.
func WithPortNames(lookup func(name string) (uint32, bool)) Option {
	return func(o *options) { o.portByName = lookup }
}

func newOptions(opts []Option) *options {
	o := &options{}
	for _, f := range opts {
		f(o)
	}
	return o
}

// item is one element of a comma- or space-separated list: a bare word
// ("tcp", "drop"), key=value or key:value ("tp_dst=80", "output:2"), or
// key(value) ("write_actions(output:1)").
type item struct {
	key      string
	value    string
	hasValue bool
	paren    bool   // the value was written in parentheses
	quoted   bool   // the key was a quoted string (a port name)
	text     string // the whole item as written, for errors
}

const delimiters = ", \t\r\n"

func isDelim(c byte) bool { return strings.IndexByte(delimiters, c) >= 0 }

// scanner splits text into items, honouring parentheses and double quotes.
type scanner struct {
	s   string
	pos int
}

// next returns the next item. ok is false at the end of the text. If
// restKeys contains the item's key and the key is followed by '=', the value
// is the rest of the text (this is how "actions=" ends a rule).
func (sc *scanner) next(restKeys ...string) (it item, ok bool, err error) {
	s := sc.s
	for sc.pos < len(s) && isDelim(s[sc.pos]) {
		sc.pos++
	}
	if sc.pos >= len(s) {
		return item{}, false, nil
	}
	start := sc.pos
	bad := func(msg string) (item, bool, error) {
		end := sc.pos
		for end < len(s) && !isDelim(s[end]) {
			end++
		}
		return item{}, false, &Error{Token: s[start:end], Err: errors.New(msg)}
	}
	if s[sc.pos] == '"' {
		name, n, qerr := unquote(s[sc.pos:])
		if qerr != nil {
			return bad(qerr.Error())
		}
		sc.pos += n
		if sc.pos < len(s) && !isDelim(s[sc.pos]) {
			return bad("unexpected text after quoted name")
		}
		return item{key: name, quoted: true, text: s[start:sc.pos]}, true, nil
	}
	for sc.pos < len(s) && !isDelim(s[sc.pos]) && !strings.ContainsRune("=:()\"", rune(s[sc.pos])) {
		sc.pos++
	}
	it.key = s[start:sc.pos]
	if it.key == "" {
		return bad("missing name")
	}
	if sc.pos >= len(s) || isDelim(s[sc.pos]) {
		it.text = s[start:sc.pos]
		return it, true, nil
	}
	switch s[sc.pos] {
	case ')':
		return bad("unbalanced ')'")
	case '"':
		return bad("unexpected '\"' in name")
	case '(':
		sc.pos++
		vstart := sc.pos
		depth := 1
		for sc.pos < len(s) {
			c := s[sc.pos]
			if c == '"' {
				_, n, qerr := unquote(s[sc.pos:])
				if qerr != nil {
					return bad(qerr.Error())
				}
				sc.pos += n
				continue
			}
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
			sc.pos++
		}
		if depth != 0 {
			return bad("missing ')'")
		}
		it.value, it.hasValue, it.paren = s[vstart:sc.pos], true, true
		sc.pos++
		if sc.pos < len(s) && !isDelim(s[sc.pos]) {
			return bad("unexpected text after ')'")
		}
		it.text = s[start:sc.pos]
		return it, true, nil
	}
	// '=' or ':'
	sep := s[sc.pos]
	sc.pos++
	for _, k := range restKeys {
		if sep == '=' && it.key == k {
			it.value, it.hasValue = s[sc.pos:], true
			it.text = s[start:]
			sc.pos = len(s)
			return it, true, nil
		}
	}
	vstart := sc.pos
	depth := 0
	for sc.pos < len(s) {
		c := s[sc.pos]
		if depth == 0 && isDelim(c) {
			break
		}
		switch c {
		case '"':
			_, n, qerr := unquote(s[sc.pos:])
			if qerr != nil {
				return bad(qerr.Error())
			}
			sc.pos += n
			continue
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return bad("unbalanced ')'")
			}
			depth--
		}
		sc.pos++
	}
	if depth != 0 {
		return bad("missing ')'")
	}
	it.value, it.hasValue = s[vstart:sc.pos], true
	it.text = s[start:sc.pos]
	return it, true, nil
}

// splitItems splits s into items.
func splitItems(s string) ([]item, error) {
	sc := scanner{s: s}
	var items []item
	for {
		it, ok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return items, nil
		}
		items = append(items, it)
	}
}

// unquote reads a double-quoted string at the start of s, with backslash
// escaping '"' and '\', and returns it and the number of bytes consumed.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(s) {
				return "", 0, errors.New("unterminated quoted string")
			}
			if s[i] != '"' && s[i] != '\\' {
				return "", 0, fmt.Errorf("bad escape \\%c in quoted string", s[i])
			}
		}
		b.WriteByte(s[i])
	}
	return "", 0, errors.New("unterminated quoted string")
}

// quote returns s in double quotes, escaping '"' and '\'.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
