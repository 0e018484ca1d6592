package openflow

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// decodeStatsBody decodes a multipart body of a type stats.go knows.
func decodeStatsBody(reply bool, typ uint16, body []byte) (v any, ok bool, err error) {
	switch {
	case typ == MultipartAggregate && !reply:
		v, err = DecodeAggregateRequest(body)
	case typ == MultipartAggregate && reply:
		v, err = DecodeAggregateReply(body)
	case typ == MultipartTable && reply:
		v, err = DecodeTableStats(body)
	case typ == MultipartPortStats && !reply:
		v, err = DecodePortStatsRequest(body)
	case typ == MultipartPortStats && reply:
		v, err = DecodePortStats(body)
	case typ == MultipartQueue && !reply:
		v, err = DecodeQueueStatsRequest(body)
	case typ == MultipartQueue && reply:
		v, err = DecodeQueueStats(body)
	case typ == MultipartPortDesc && reply:
		v, err = DecodePortDesc(body)
	case (typ == MultipartTable || typ == MultipartPortDesc) && !reply:
		err = CheckEmptyBody(body)
	default:
		return nil, false, nil
	}
	return v, true, err
}

func encodeStatsBody(t testing.TB, v any) []byte {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return nil
	case FlowStatsRequest:
		return v.Append(nil)
	case AggregateReply:
		return v.Append(nil)
	case []TableStats:
		return AppendTableStats(nil, v)
	case PortStatsRequest:
		return v.Append(nil)
	case []PortStats:
		return AppendPortStats(nil, v)
	case QueueStatsRequest:
		return v.Append(nil)
	case []QueueStats:
		return AppendQueueStats(nil, v)
	case []Port:
		return AppendPortDesc(nil, v)
	}
	t.Fatalf("cannot encode %T", v)
	return nil
}

func statsCases(t testing.TB) []struct {
	name  string
	reply bool
	typ   uint16
	v     any
	want  string
} {
	port := testPortStatus().Port
	return []struct {
		name  string
		reply bool
		typ   uint16
		v     any
		want  string
	}{
		{"aggregate request", false, MultipartAggregate,
			FlowStatsRequest{TableID: flow.TableAll, OutPort: flow.PortAny, OutGroup: GroupAny, Match: mustRule(t, "ip,nw_dst=10.0.0.0/8,actions=drop").Match},
			"OFPST_AGGREGATE request (OF1.3) (xid=0x7): ip,nw_dst=10.0.0.0/8"},
		{"aggregate reply", true, MultipartAggregate, AggregateReply{PacketCount: 10, ByteCount: 1000, FlowCount: 3},
			"OFPST_AGGREGATE reply (OF1.3) (xid=0x7): packet_count=10 byte_count=1000 flow_count=3"},
		{"table stats request", false, MultipartTable, nil,
			"OFPST_TABLE request (OF1.3) (xid=0x7):"},
		{"table stats reply", true, MultipartTable, []TableStats{{TableID: 0, ActiveCount: 4, LookupCount: 100, MatchedCount: 90}, {TableID: 1, ActiveCount: 1}},
			"OFPST_TABLE reply (OF1.3) (xid=0x7):\n  table 0:\n    active=4, lookup=100, matched=90\n\n  table 1:\n    active=1, lookup=0, matched=0"},
		{"port stats request", false, MultipartPortStats, PortStatsRequest{PortNo: flow.PortAny},
			"OFPST_PORT request (OF1.3) (xid=0x7): port_no=ANY"},
		{"port stats reply", true, MultipartPortStats, []PortStats{{PortNo: 3, RxPackets: 1, TxPackets: 2, RxBytes: 3, TxBytes: 4, RxDropped: 5, TxDropped: 6,
			RxErrors: 7, TxErrors: 8, RxFrameErr: 9, RxOverErr: 10, RxCRCErr: 11, Collisions: 12, DurationSec: 13, DurationNsec: 500000000}},
			"OFPST_PORT reply (OF1.3) (xid=0x7): 1 ports\n  port  3: rx pkts=1, bytes=3, drop=5, errs=7, frame=9, over=10, crc=11\n           tx pkts=2, bytes=4, drop=6, errs=8, coll=12\n           duration=13.500s"},
		{"queue stats request", false, MultipartQueue, QueueStatsRequest{PortNo: flow.PortAny, QueueID: QueueAll},
			"OFPST_QUEUE request (OF1.3) (xid=0x7): port=ANY queue=ALL"},
		{"queue stats reply empty", true, MultipartQueue, []QueueStats(nil),
			"OFPST_QUEUE reply (OF1.3) (xid=0x7): 0 queues"},
		{"queue stats reply", true, MultipartQueue, []QueueStats{{PortNo: 1, QueueID: 2, TxBytes: 300, TxPackets: 3, TxErrors: 0, DurationSec: 1}},
			"OFPST_QUEUE reply (OF1.3) (xid=0x7): 1 queues\n  port 1 queue 2: bytes=300, pkts=3, errors=0, duration=1s"},
		{"port desc request", false, MultipartPortDesc, nil,
			"OFPST_PORT_DESC request (OF1.3) (xid=0x7): port=ANY"},
		{"port desc reply", true, MultipartPortDesc, []Port{port, {PortNo: flow.PortLocal, Name: "br0", Config: PortConfigDown, State: PortStateLinkDown}},
			"OFPST_PORT_DESC reply (OF1.3) (xid=0x7):\n 3(tap3): addr:02:00:00:00:00:03\n     config:     NO_FWD\n     state:      LIVE\n     current:    1GB-FD COPPER\n     advertised: 1GB-FD\n     supported:  100MB-FD 1GB-FD\n     speed: 1000 Mbps now, 1000 Mbps max\n LOCAL(br0): addr:00:00:00:00:00:00\n     config:     PORT_DOWN\n     state:      LINK_DOWN\n     speed: 0 Mbps now, 0 Mbps max"},
	}
}

func TestStatsBodies(t *testing.T) {
	for _, tc := range statsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			mp := Multipart{Reply: tc.reply, Type: tc.typ, Body: encodeStatsBody(t, tc.v)}
			msg := mp.Encode(7)
			m, err := DecodeMultipart(msg)
			if err != nil {
				t.Fatal(err)
			}
			v, ok, err := decodeStatsBody(m.Reply, m.Type, m.Body)
			if !ok || err != nil {
				t.Fatalf("decoding body %x: %v, %v", m.Body, ok, err)
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Errorf("got %+v, want %+v", v, tc.v)
			}
			checkOfctl(t, msg, tc.want)
		})
	}
}

func TestStatsBodyErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply bool
		typ   uint16
		body  []byte
	}{
		{"aggregate request short", false, MultipartAggregate, make([]byte, 39)},
		{"aggregate reply short", true, MultipartAggregate, make([]byte, 23)},
		{"aggregate reply long", true, MultipartAggregate, make([]byte, 25)},
		{"table stats partial", true, MultipartTable, make([]byte, TableStatsLen+1)},
		{"table stats request with body", false, MultipartTable, make([]byte, 8)},
		{"port stats request short", false, MultipartPortStats, make([]byte, 4)},
		{"port stats partial", true, MultipartPortStats, make([]byte, PortStatsLen-8)},
		{"queue stats request long", false, MultipartQueue, make([]byte, 12)},
		{"queue stats partial", true, MultipartQueue, make([]byte, QueueStatsLen+4)},
		{"port desc partial", true, MultipartPortDesc, make([]byte, PortLen*2-1)},
		{"port desc request with body", false, MultipartPortDesc, make([]byte, 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeStatsBody(tc.reply, tc.typ, tc.body)
			wantError(t, err, ETBadRequest, BadRequestBadLen)
		})
	}
}

func FuzzDecodeStats(f *testing.F) {
	for _, tc := range statsCases(f) {
		b := encodeStatsBody(f, tc.v)
		// The first two bytes pick the decoder: reply flag and type.
		r := byte(0)
		if tc.reply {
			r = 1
		}
		f.Add(append([]byte{r, byte(tc.typ)}, b...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		reply, typ, body := b[0]&1 != 0, uint16(b[1]), b[2:]
		v, ok, err := decodeStatsBody(reply, typ, body)
		if !ok {
			return
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc := encodeStatsBody(t, v)
		v2, _, err := decodeStatsBody(reply, typ, enc)
		if err != nil {
			t.Fatalf("body %x decodes to %+v, which encodes to %x, which does not decode: %v", body, v, enc, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("body %x decodes to %+v, which encodes to %x, which decodes to %+v", body, v, enc, v2)
		}
	})
}

func TestSplitMultipartReply(t *testing.T) {
	// 100,000 flows, each with its own match and actions, encoded into one
	// buffer and cut into entries that alias it.
	const nFlows = 100000
	base := testFlowStats(t)[0]
	stats := make([]FlowStats, nFlows)
	for i := range stats {
		s := base
		s.Priority = uint16(i)
		s.Cookie = uint64(i)
		s.Match.Key.NwSrc = uint32(i%256) << 24 // under the /8 mask
		s.PacketCount = uint64(i) * 3
		stats[i] = s
	}
	body, err := AppendFlowStats(nil, stats)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := SplitLengthPrefixed(body)
	if err != nil || len(entries) != nFlows {
		t.Fatalf("SplitLengthPrefixed: %d entries, %v", len(entries), err)
	}
	msgs, err := SplitMultipartReply(9, MultipartFlow, entries)
	if err != nil {
		t.Fatal(err)
	}
	// Each message is as full as the entries allow.
	if want := (len(body) + MultipartMax - 1) / MultipartMax; len(msgs) < want || len(msgs) > want+1 {
		t.Errorf("%d messages for %d bytes, want about %d", len(msgs), len(body), want)
	}
	var got []FlowStats
	for i, msg := range msgs {
		if len(msg) > 0xffff {
			t.Fatalf("message %d is %d bytes", i, len(msg))
		}
		h, err := ParseHeader(msg)
		if err != nil || h.Xid != 9 || h.Type != TypeMultipartReply {
			t.Fatalf("message %d header %+v, %v", i, h, err)
		}
		m, err := DecodeMultipart(msg)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		more := m.Flags&MultipartReplyMore != 0
		if last := i == len(msgs)-1; more == last || m.Type != MultipartFlow {
			t.Fatalf("message %d of %d: type %d flags %#x", i, len(msgs), m.Type, m.Flags)
		}
		if i < len(msgs)-1 && len(msg)+len(entries[0]) <= 0xffff {
			t.Errorf("message %d is %d bytes; another entry would have fit", i, len(msg))
		}
		fs, err := DecodeFlowStats(m.Body)
		if err != nil {
			t.Fatalf("message %d body: %v", i, err)
		}
		got = append(got, fs...)
	}
	if !reflect.DeepEqual(got, stats) {
		t.Errorf("the split replies decode to %d flows, not the %d sent", len(got), len(stats))
	}
	if out, ok := ofctlPrint(t, msgs[0]); ok {
		if !strings.HasPrefix(out, "OFPST_FLOW reply (OF1.3) (xid=0x9): flags=[more]\n cookie=0x0, duration=3.250s, table=1") ||
			strings.Contains(out, "decode error") {
			t.Errorf("ovs-ofctl ofp-print of the first message:\n%.300s", out)
		}
	}
}

func TestSplitMultipartReplyEdges(t *testing.T) {
	msgs, err := SplitMultipartReply(1, MultipartPortStats, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no entries: %d messages, %v", len(msgs), err)
	}
	if m, err := DecodeMultipart(msgs[0]); err != nil || m.Flags != 0 || len(m.Body) != 0 || m.Type != MultipartPortStats {
		t.Errorf("no entries: %+v, %v", m, err)
	}
	if _, err := SplitMultipartReply(1, MultipartFlow, [][]byte{make([]byte, MultipartMax+1)}); err == nil {
		t.Error("an entry too big for a message was accepted")
	}
	// Entries that exactly fill a message.
	big := make([]byte, MultipartMax)
	msgs, err = SplitMultipartReply(1, MultipartFlow, [][]byte{big, big[:8]})
	if err != nil || len(msgs) != 2 || len(msgs[0]) != 0xffff || binary.BigEndian.Uint16(msgs[0][2:]) != 0xffff {
		t.Errorf("full message: %d messages, %v", len(msgs), err)
	}
	ps := make([]PortStats, 1000)
	for i := range ps {
		ps[i].PortNo = uint32(i + 1)
	}
	body := AppendPortStats(nil, ps)
	msgs, err = SplitMultipartReply(1, MultipartPortStats, SplitFixed(body, PortStatsLen))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("1000 port stats: %d messages, %v", len(msgs), err)
	}
	var got []PortStats
	for _, msg := range msgs {
		m, _ := DecodeMultipart(msg)
		s, err := DecodePortStats(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s...)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Error("split port stats do not decode to what was sent")
	}
	if _, err := SplitLengthPrefixed([]byte{0, 8, 0}); err == nil {
		t.Error("SplitLengthPrefixed accepted an entry that overruns")
	}
}
