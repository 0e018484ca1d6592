package tunnel

import (
	"bytes"
	"testing"
)

func TestVXLANHeader(t *testing.T) {
	b := make([]byte, HeaderLen)
	PutVXLAN(b, 0x123456)
	// RFC 7348 section 5: flags (I bit 0x08), 24 reserved bits, the VNI,
	// 8 reserved bits.
	want := []byte{0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("PutVXLAN = % x, want % x", b, want)
	}
	vni, hdr, ok := DecapVXLAN(append(b, 0xaa, 0xbb))
	if !ok || vni != 0x123456 || hdr != HeaderLen {
		t.Fatalf("DecapVXLAN = %#x, %d, %v", vni, hdr, ok)
	}
	// Reserved bits are ignored on receipt.
	if vni, _, ok := DecapVXLAN([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 100, 0xff}); !ok || vni != 100 {
		t.Errorf("reserved bits set: %d, %v", vni, ok)
	}
	for name, b := range map[string][]byte{
		"short": {0x08, 0, 0, 0, 0, 0, 1},
		"no I":  {0x00, 0, 0, 0, 0, 0, 1, 0},
		"empty": nil,
		"G bit": {0x80, 0, 0, 0, 0, 0, 1, 0},
	} {
		if _, _, ok := DecapVXLAN(b); ok {
			t.Errorf("%s: accepted % x", name, b)
		}
	}
}

func TestGeneveHeader(t *testing.T) {
	b := make([]byte, HeaderLen)
	PutGeneve(b, 0xabcdef)
	// RFC 8926 section 3.4: Ver=0, Opt Len=0, O=0, C=0, reserved, protocol
	// type 0x6558, the VNI, reserved.
	want := []byte{0x00, 0x00, 0x65, 0x58, 0xab, 0xcd, 0xef, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("PutGeneve = % x, want % x", b, want)
	}
	if vni, hdr, ok := DecapGeneve(b); !ok || vni != 0xabcdef || hdr != HeaderLen {
		t.Fatalf("DecapGeneve = %#x, %d, %v", vni, hdr, ok)
	}
	// Two 4-byte words of (non-critical) options are skipped.
	opts := []byte{0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4, 0xee}
	if vni, hdr, ok := DecapGeneve(opts); !ok || vni != 7 || hdr != 16 {
		t.Errorf("with options: %d, %d, %v", vni, hdr, ok)
	}
	for name, b := range map[string][]byte{
		"short":        {0, 0, 0x65, 0x58, 0, 0, 1},
		"version 1":    {0x40, 0, 0x65, 0x58, 0, 0, 1, 0},
		"options cut":  {0x02, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3, 4},
		"control (O)":  {0x00, 0x80, 0x65, 0x58, 0, 0, 1, 0},
		"critical (C)": {0x01, 0x40, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3, 4},
		"IPv4 payload": {0x00, 0x00, 0x08, 0x00, 0, 0, 1, 0},
		"empty":        nil,
	} {
		if _, _, ok := DecapGeneve(b); ok {
			t.Errorf("%s: accepted % x", name, b)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, k := range []Kind{VXLAN, Geneve} {
		for _, vni := range []uint32{0, 1, 100, MaxVNI} {
			b := make([]byte, HeaderLen+20)
			k.put(b, vni)
			got, hdr, ok := k.decap(b)
			if !ok || got != vni || hdr != HeaderLen {
				t.Errorf("%v vni %d: got %d, %d, %v", k, vni, got, hdr, ok)
			}
		}
	}
}

func TestHeaderAllocs(t *testing.T) {
	b := make([]byte, 64)
	n := testing.AllocsPerRun(1000, func() {
		PutVXLAN(b, 100)
		DecapVXLAN(b)
		PutGeneve(b, 100)
		DecapGeneve(b)
	})
	if n != 0 {
		t.Errorf("encap/decap allocate %v times per run", n)
	}
}

func checkDecap(t *testing.T, b []byte, vni uint32, hdr int, ok bool) {
	if !ok {
		return
	}
	if hdr < HeaderLen || hdr > len(b) || vni > MaxVNI {
		t.Fatalf("ok with vni %d, header %d of %d bytes", vni, hdr, len(b))
	}
}

func FuzzDecapVXLAN(f *testing.F) {
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 100, 0})
	f.Add([]byte{0x08, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		vni, hdr, ok := DecapVXLAN(b)
		checkDecap(t, b, vni, hdr, ok)
		if ok {
			// Re-encoding gives back the VNI.
			c := make([]byte, HeaderLen)
			PutVXLAN(c, vni)
			if v, _, ok := DecapVXLAN(c); !ok || v != vni {
				t.Fatalf("re-encode: %d, %v", v, ok)
			}
		}
	})
}

func FuzzDecapGeneve(f *testing.F) {
	f.Add([]byte{0, 0, 0x65, 0x58, 0, 0, 100, 0})
	f.Add([]byte{0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4})
	f.Add([]byte{0x3f, 0, 0x65, 0x58, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		vni, hdr, ok := DecapGeneve(b)
		checkDecap(t, b, vni, hdr, ok)
		if ok && (b[0]>>6 != 0 || b[1]&0xc0 != 0) {
			t.Fatalf("accepted version %d, flags %#x", b[0]>>6, b[1])
		}
	})
}

func BenchmarkEncapDecap(b *testing.B) {
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		PutVXLAN(buf, 100)
		DecapVXLAN(buf)
		PutGeneve(buf, 100)
		DecapGeneve(buf)
	}
}
