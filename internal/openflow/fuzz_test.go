package openflow

import (
	"reflect"
	"testing"
)

func FuzzDecodeMatch(f *testing.F) {
	addMatchSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeMatch(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if n > len(b) || n%8 != 0 {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		enc := EncodeMatch(&m)
		m2, n2, err := DecodeMatch(enc)
		if err != nil {
			t.Fatalf("re-encoding %x gave %x, which does not decode: %v", b[:n], enc, err)
		}
		if m2 != m || n2 != len(enc) {
			t.Fatalf("re-encoding %x gave %x, which decodes to %+v, want %+v", b[:n], enc, m2, m)
		}
	})
}

// addMatchSeeds seeds a match fuzzer with the matches of the test rules
// and of the ofp-print cases, and one with a repeated field.
func addMatchSeeds(f *testing.F) {
	for _, s := range matchRules {
		r := mustRule(f, s+",actions=drop")
		f.Add(EncodeMatch(&r.Match))
	}
	for _, tc := range ofprintCases {
		f.Add(hx(f, tc.hex)[flowModBodyOffset:])
	}
	f.Add(hx(f, "0001 0010 80000c02 1005 00000802 1005"))
}

// FuzzDecodeMatchFast: the integer fast path decides every match as the
// general path does: the same match, length and error.
func FuzzDecodeMatchFast(f *testing.F) {
	addMatchSeeds(f)
	f.Add(hx(f, "0001 000e 80000a01 06 80000502 0800 0000"))
	f.Add(hx(f, "0001 0014 80001808 0a000001 ff00ffff 0000 0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m1, n1, err1 := decodeMatch(b, true)
		m2, n2, err2 := decodeMatch(b, false)
		if m1 != m2 || n1 != n2 || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("%x: fast path gives %v, %d, %v; general path %v, %d, %v", b, &m1, n1, err1, &m2, n2, err2)
		}
	})
}

func FuzzDecodeInstructions(f *testing.F) {
	for _, s := range instructionRules {
		r := mustRule(f, s)
		b, err := EncodeInstructions(&r.Instructions)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range ofprintCases {
		b := hx(f, tc.hex)[flowModBodyOffset:]
		if _, n, err := DecodeMatch(b); err == nil {
			f.Add(b[n:])
		}
	}
	f.Add(hx(f, "0004 0018 00000000 ffff 0010 00002320 0012 000000000000"))
	f.Add(hx(f, "0004 0020 00000000 ffff 0018 00002320 0021 00010108 00000005 0000000f 0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInstructions(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc, err := EncodeInstructions(&in)
		if err != nil {
			t.Fatalf("decoded %+v from %x but cannot encode it: %v", in, b, err)
		}
		in2, err := DecodeInstructions(enc)
		if err != nil {
			t.Fatalf("re-encoding %x gave %x, which does not decode: %v", b, enc, err)
		}
		if !reflect.DeepEqual(in, in2) {
			t.Fatalf("re-encoding %x gave %x, which decodes to %+v, want %+v", b, enc, in2, in)
		}
	})
}
