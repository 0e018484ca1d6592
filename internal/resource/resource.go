// Package resource defines the declarative resources of the distributed
// switch (Switch, PortGroup, Host, Uplink, Port), decodes them strictly from
// YAML or JSON and validates each one on its own. Checks that need the other
// resources (references, duplicate MACs or VNIs) live in internal/manager.
//
// Every resource has the same shape:
//
//	apiVersion: dvs/v1
//	kind: PortGroup
//	metadata: {name: web}
//	spec: {switch: prod, vlan: 10}
//	status: {...}            # written by the manager, ignored on input
package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// APIVersion is the only apiVersion this package reads and writes.
const APIVersion = "dvs/v1"

// Kind names a resource type.
type Kind string

// The kinds, in dependency order: a kind only refers to kinds before it.
const (
	KindSwitch    Kind = "Switch"
	KindHost      Kind = "Host"
	KindPortGroup Kind = "PortGroup"
	KindUplink    Kind = "Uplink"
	KindPort      Kind = "Port"
)

// Kinds lists every kind in dependency order (create in this order, delete
// in reverse).
var Kinds = []Kind{KindSwitch, KindHost, KindPortGroup, KindUplink, KindPort}

// Plural returns the kind's path segment in the API (/v1/<plural>).
func (k Kind) Plural() string {
	switch k {
	case KindSwitch:
		return "switches"
	case KindPortGroup:
		return "portgroups"
	}
	return strings.ToLower(string(k)) + "s"
}

// ParseKind accepts a kind the way users type it: singular or plural, any
// case, and "pg" for PortGroup.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "switch", "switches", "sw":
		return KindSwitch, nil
	case "portgroup", "portgroups", "pg", "pgs":
		return KindPortGroup, nil
	case "host", "hosts":
		return KindHost, nil
	case "uplink", "uplinks":
		return KindUplink, nil
	case "port", "ports":
		return KindPort, nil
	}
	return "", fmt.Errorf("unknown kind %q (want switch, portgroup, host, uplink or port)", s)
}

// ErrInvalid marks input that is wrong on its own: it does not parse, names
// an unknown kind or field, or holds a value out of range.
var ErrInvalid = errors.New("invalid")

// invalidf returns an error that wraps ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Meta is the metadata every resource carries.
type Meta struct {
	Name string `json:"name"`
	// Revision is the global store revision of the resource's last change.
	// The manager sets it; it is ignored on input (use If-Match to make
	// an update conditional).
	Revision int64 `json:"revision,omitempty"`
	// Created is the global revision at which the resource was created.
	Created int64 `json:"createdRevision,omitempty"`
}

// Header is the part shared by all resources.
type Header struct {
	APIVersion string `json:"apiVersion"`
	Kind       Kind   `json:"kind"`
	Metadata   Meta   `json:"metadata"`
}

// Object is any resource.
type Object interface {
	// Head returns the shared part, for reading and writing.
	Head() *Header
	// Normalize fills in defaults and canonical spellings (lower-case
	// MACs, ...) so that equal intents compare equal.
	Normalize()
	// Validate checks the resource on its own, after Normalize.
	Validate() error
	// SpecJSON returns the spec as canonical JSON, to tell whether an
	// update changes anything.
	SpecJSON() []byte
	// ClearStatus drops the manager-owned status (input never sets it).
	ClearStatus()
}

// New returns an empty resource of kind k.
func New(k Kind) (Object, error) {
	var o Object
	switch k {
	case KindSwitch:
		o = &Switch{}
	case KindPortGroup:
		o = &PortGroup{}
	case KindHost:
		o = &Host{}
	case KindUplink:
		o = &Uplink{}
	case KindPort:
		o = &Port{}
	default:
		return nil, invalidf("unknown kind %q (want Switch, PortGroup, Host, Uplink or Port)", k)
	}
	h := o.Head()
	h.APIVersion, h.Kind = APIVersion, k
	return o, nil
}

// Ref names one resource.
type Ref struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
}

func (r Ref) String() string { return string(r.Kind) + "/" + r.Name }

// RefOf returns o's reference.
func RefOf(o Object) Ref { h := o.Head(); return Ref{h.Kind, h.Metadata.Name} }

// DecodeJSON decodes one resource from JSON, rejecting unknown fields and
// trailing data, then normalizes and validates it. The status is dropped.
func DecodeJSON(data []byte) (Object, error) {
	var h struct {
		APIVersion string `json:"apiVersion"`
		Kind       Kind   `json:"kind"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, invalidf("%s", jsonMessage(err))
	}
	if h.Kind == "" {
		return nil, invalidf("missing kind")
	}
	if h.APIVersion != APIVersion {
		return nil, invalidf("%s: apiVersion must be %q, not %q", h.Kind, APIVersion, h.APIVersion)
	}
	o, err := New(h.Kind)
	if err != nil {
		return nil, err
	}
	if err := strictJSON(data, o); err != nil {
		return nil, invalidf("%s: %s", h.Kind, jsonMessage(err))
	}
	o.ClearStatus()
	o.Head().Metadata.Revision, o.Head().Metadata.Created = 0, 0
	o.Normalize()
	if err := validateName("metadata.name", o.Head().Metadata.Name); err != nil {
		return nil, fmt.Errorf("%s: %w", h.Kind, err)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", RefOf(o), err)
	}
	return o, nil
}

// Decode reads one or more resources from YAML or JSON documents separated
// by lines of "---". Empty documents are skipped. It fails on the first bad
// document, naming it by position.
func Decode(data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range splitDocuments(data) {
		j, err := yamlToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w: %s", i+1, ErrInvalid, yamlMessage(err))
		}
		if isNull(j) {
			continue
		}
		o, err := DecodeJSON(j)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// splitDocuments splits a YAML stream at "---" lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- #")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func isNull(j []byte) bool {
	t := bytes.TrimSpace(j)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the resource")
	}
	return nil
}

// jsonMessage turns encoding/json's errors into field-oriented messages.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %s: cannot use %s here (want %s)", te.Field, te.Value, te.Type)
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return "unknown field " + f
	}
	return msg
}

// Marshal encodes objects as JSON.
func Marshal(o Object) ([]byte, error) { return json.Marshal(o) }

// canon encodes v as JSON; v is a plain data type, so this cannot fail.
func canon(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("resource: encoding %T: %v", v, err))
	}
	return b
}

// Clone returns a deep copy of o (through JSON: resources are plain data).
func Clone(o Object) Object {
	n, _ := New(o.Head().Kind)
	if err := json.Unmarshal(canon(o), n); err != nil {
		panic(fmt.Sprintf("resource: cloning %s: %v", RefOf(o), err))
	}
	return n
}
