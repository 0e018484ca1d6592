package flowtext

import (
	"testing"
)

// FuzzParseRule checks that ParseRule never panics and that whatever it
// accepts prints to text that parses back to the same rule, and prints the
// same again.
func FuzzParseRule(f *testing.F) {
	for _, tc := range validRules {
		f.Add(tc.in)
		f.Add(tc.want)
	}
	for _, s := range []string{
		"tp_dst=80 actions=drop", "foo=1 actions=drop", `in_port="a\"b" actions=output:"x"`,
		"actions=write_actions(output(port=1,max_len=2)),goto_table:1", "tcp,tcp_flags=+syn-ack-fin+[800]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParseRule(%q) error %v is %T, want *Error", s, err, err)
			}
			return
		}
		text, err := roundTrip(r, FormatOptions{})
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		back, _ := ParseRule(text)
		if again := FormatRule(back, FormatOptions{}); again != text {
			t.Fatalf("printing %q is not stable: %q", text, again)
		}
		if _, err := roundTrip(r, FormatOptions{Stats: true}); err != nil {
			t.Fatalf("ParseRule(%q) with stats: %v", s, err)
		}
	})
}

// FuzzParsePacket checks that ParsePacket never panics and that the key of
// whatever it accepts prints to text that parses back to the same key.
func FuzzParsePacket(f *testing.F) {
	for _, tc := range validPackets {
		f.Add(tc.in)
		f.Add(tc.want)
	}
	for _, tc := range validRules {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePacket(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParsePacket(%q) error %v is %T, want *Error", s, err, err)
			}
			return
		}
		text := FormatKey(&k)
		back, err := ParsePacket(text)
		if err != nil {
			t.Fatalf("ParsePacket(%q): reparsing %q: %v", s, text, err)
		}
		if d := diffKeys(&k, &back); d != "" {
			t.Fatalf("ParsePacket(%q): reparsing %q (-want +got):\n%s", s, text, d)
		}
		if again := FormatKey(&back); again != text {
			t.Fatalf("printing %q is not stable: %q", text, again)
		}
	})
}
