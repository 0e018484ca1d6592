package flow

import (
	"math/rand/v2"
	"testing"
)

// hashWords lists the words Hash reads, the seven common ones first, as
// Hash and EqualCommon spell them out; TestHashShortcut checks that
// they are every packet word, once.
var hashWords = [...]int{hwInPort, hwNwDst, hwEthDst, hwEthType, hwVLAN, hwTp, hwNwProto,
	hwTunID, hwTunSrc, hwIPv6Src, hwIPv6Src + 1, hwIPv6Dst, hwIPv6Dst + 1, hwNDTarget, hwNDTarget + 1, hwArp}

// TestHashSpreads checks the exact-match hash separates keys that differ
// in one or two bits anywhere in the packet words, top bits included, from
// a key with every word set and from one with only the words of an
// untunneled IPv4 packet set (which Hash takes a shorter way for).
func TestHashSpreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var full, ipv4 Key
	for i := range full.Packet() {
		full.Packet()[i] = rng.Uint64()
	}
	for _, i := range hashWords[:7] {
		ipv4.Packet()[i] = rng.Uint64()
	}
	for name, base := range map[string]Key{"full": full, "ipv4": ipv4} {
		t.Run(name, func(t *testing.T) { testHashSpreads(t, base) })
	}
}

func testHashSpreads(t *testing.T, base Key) {
	seen, seenHigh := map[uint64]int{}, map[uint64]int{}
	n := 0
	words := len(base.Packet())
	for i := 0; i < words*64; i++ {
		k := base
		k.Packet()[i/64] ^= 1 << (i % 64)
		seen[k.Hash()&0xffff]++
		seenHigh[k.Hash()>>32&0xffff]++
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
	// Low 16 bits and bits 32-47 (what the exact-match cache indexes
	// with) should not pile up.
	for h, c := range seen {
		if c > 6 {
			t.Errorf("%d of %d one-bit variants share low hash bits %#x", c, n, h)
		}
	}
	for h, c := range seenHigh {
		if c > 6 {
			t.Errorf("%d of %d one-bit variants share hash bits 32-47 %#x", c, n, h)
		}
	}
}

// TestHashShortcut checks that Hash reads every packet word once, that
// HashRare says whether one of the words beyond the seven common ones is
// set, and that SetCommon builds a key of the seven and returns its hash.
func TestHashShortcut(t *testing.T) {
	var seen [KeyWords - PipelineWords]int
	for _, i := range hashWords {
		seen[i]++
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("Hash reads packet word %d %d times, want once (hashWords %v)", i, n, hashWords)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for n := 0; n < 1000; n++ {
		var k Key
		for j, i := range hashWords {
			// Set the rare words in half of the keys, one at a time.
			if j < 7 || n%2 == 0 && j == 7+n/2%9 {
				k.Packet()[i] = rng.Uint64()
			}
		}
		rare := false
		for _, i := range hashWords[7:] {
			rare = rare || k.Packet()[i] != 0
		}
		if got := k.Hash(); (got&HashRare != 0) != rare {
			t.Fatalf("Hash(%x) = %#x: HashRare set %v, want %v", *k.Packet(), got, got&HashRare != 0, rare)
		} else if !rare {
			// SetCommon, given the seven words, builds the same key and
			// returns its hash.
			k2 := Key{Metadata: 1, Regs: [NumRegs]uint32{2}, ArpTHA: [6]byte{3}}
			p := k.Packet()
			h := k2.SetCommon(p[hwInPort], p[hwNwDst], p[hwEthDst], p[hwEthType], p[hwVLAN], p[hwTp], p[hwNwProto])
			if k2 != k || h != got {
				t.Fatalf("SetCommon(%x) = %#x, key %x; want %#x, key %x", *k.Packet(), h, *k2.Packet(), got, *k.Packet())
			}
		}
		if k2 := k; k.Hash()&HashRare == 0 {
			// EqualCommon must tell apart keys that differ in any of the
			// words it compares.
			for _, i := range hashWords[:7] {
				k2.Packet()[i] ^= 1 << (n % 64)
				if k2.Packet().EqualCommon(k.Packet()) || k2.Packet().Equal(k.Packet()) {
					t.Fatalf("keys differing in word %d compare equal", i)
				}
				k2.Packet()[i] = k.Packet()[i]
			}
			if !k2.Packet().EqualCommon(k.Packet()) {
				t.Fatalf("EqualCommon(k, k) is false")
			}
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

// TestPacketWordsEqual checks Equal and EqualCommon against comparing the
// words one by one, on keys that differ in random sets of words by random
// bits (words that cancel each other's differences included).
func TestPacketWordsEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for n := 0; n < 20000; n++ {
		var a PacketWords
		for i := range a {
			a[i] = rng.Uint64() & rng.Uint64()
		}
		b := a
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] ^= 1 << rng.IntN(64)
			case 1:
				b[i] = rng.Uint64() & a[(i+1)%len(a)] // bits another word has
			}
		}
		if got, want := a.Equal(&b), a == b; got != want {
			t.Fatalf("Equal(%x, %x) = %v, want %v", a, b, got, want)
		}
		common := true
		for _, i := range hashWords[:7] {
			common = common && a[i] == b[i]
		}
		if got := a.EqualCommon(&b); got != common {
			t.Fatalf("EqualCommon(%x, %x) = %v, want %v", a, b, got, common)
		}
	}
}

// BenchmarkKeyHash hashes the key of an untunneled IPv4 UDP packet and a
// key with every packet word set (which takes Hash's longer way).
func BenchmarkKeyHash(b *testing.B) {
	var ipv4, full Key
	ipv4.InPort, ipv4.EthType, ipv4.NwProto, ipv4.NwSrc, ipv4.NwDst, ipv4.TpSrc, ipv4.TpDst = 1, EthTypeIPv4, IPProtoUDP, 0xc6336401, 0xc6336402, 1000, 53
	ipv4.EthSrc, ipv4.EthDst = [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range full.Packet() {
		full.Packet()[i] = rng.Uint64()
	}
	for name, k := range map[string]*Key{"ipv4": &ipv4, "full": &full} {
		b.Run(name, func(b *testing.B) {
			var sink uint64
			for b.Loop() {
				sink += k.Hash()
			}
			_ = sink
		})
	}
}
