package flow

import (
	"math/rand/v2"
	"testing"
)

// TestHashSpreads checks the exact-match hash separates keys that differ
// in one or two bits anywhere in the packet words, top bits included.
func TestHashSpreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var base Key
	for i := range base.Packet() {
		base.Packet()[i] = rng.Uint64()
	}
	seen := map[uint64]int{}
	n := 0
	words := len(base.Packet())
	for i := 0; i < words*64; i++ {
		k := base
		k.Packet()[i/64] ^= 1 << (i % 64)
		seen[k.Hash()&0xffff]++
		n++
		for j := i + 1; j < words*64; j += 61 {
			k2 := k
			k2.Packet()[j/64] ^= 1 << (j % 64)
			if k2.Hash() == k.Hash() {
				t.Fatalf("keys differing in bits %d and %d hash alike", i, j)
			}
		}
	}
	// Top bits of two different words must not cancel.
	for i := 0; i < words; i++ {
		for j := i + 1; j < words; j++ {
			k := base
			k.Packet()[i] ^= 1 << 63
			k.Packet()[j] ^= 1 << 63
			if k.Hash() == base.Hash() {
				t.Errorf("flipping the top bits of words %d and %d does not change the hash", i, j)
			}
		}
	}
	// Low 16 bits (what tables index with) should not pile up.
	for h, c := range seen {
		if c > 6 {
			t.Errorf("%d of %d one-bit variants share low hash bits %#x", c, n, h)
		}
	}
}

func TestMatchValidate(t *testing.T) {
	var m Match
	m.Set(FieldByID(FieldEthDst), ValueBytes([]byte{2, 0, 0, 0, 0, 1}))
	if err := m.Validate(); err != nil {
		t.Errorf("dl_dst alone: %v", err)
	}
	m.Set(FieldByID(FieldTpDst), ValueOf(80))
	if err := m.Validate(); err == nil {
		t.Error("tp_dst without ip_proto validated")
	}
	m.Set(FieldByID(FieldEthType), ValueOf(EthTypeIPv4))
	m.Set(FieldByID(FieldIPProto), ValueOf(IPProtoTCP))
	if err := m.Validate(); err != nil {
		t.Errorf("tcp,tp_dst=80: %v", err)
	}
	m.Set(FieldByID(FieldIPProto), ValueOf(IPProtoICMP))
	if err := m.Validate(); err == nil {
		t.Error("tp_dst with ip_proto=1 validated (the bits are icmp_type/code, 8 bits each and not maskable as 16)")
	}
}

func TestFieldSetGet(t *testing.T) {
	var k Key
	for _, f := range Fields() {
		f := f
		v := f.Ones()
		f.Set(&k, v)
		if got := f.Get(&k); got != v {
			t.Errorf("%s: Get after Set(all ones) = %x, want %x", f.Name, got, v)
		}
		f.Set(&k, Value{})
		if got := f.Get(&k); got != (Value{}) {
			t.Errorf("%s: Get after Set(0) = %x", f.Name, got)
		}
	}
}
