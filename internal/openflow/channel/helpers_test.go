package channel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/openflow"
)

// fakeHandler records what it is given. Flow-mods take delay; a
// multipart port-desc or desc request gets an empty reply; a packet-out
// fails with a plain error; a group-mod fails with an *openflow.Error.
type fakeHandler struct {
	delay time.Duration

	mu   sync.Mutex
	got  [][]byte
	done []uint32 // xids of handled flow-mods, in order
}

var testFeatures = openflow.FeaturesReply{DatapathID: 0x1234, NBuffers: 0, NTables: 254,
	Capabilities: openflow.CapFlowStats | openflow.CapTableStats | openflow.CapPortStats}

func (h *fakeHandler) Features() openflow.FeaturesReply { return testFeatures }

func (h *fakeHandler) Handle(c *Conn, msg []byte) ([][]byte, error) {
	hd, _ := openflow.ParseHeader(msg)
	h.mu.Lock()
	h.got = append(h.got, append([]byte(nil), msg...))
	h.mu.Unlock()
	switch hd.Type {
	case openflow.TypeFlowMod:
		time.Sleep(h.delay)
		h.mu.Lock()
		h.done = append(h.done, hd.Xid)
		h.mu.Unlock()
		return nil, nil
	case openflow.TypePacketOut:
		return nil, errors.New("no packet-outs here")
	case openflow.TypeGroupMod:
		return nil, &openflow.Error{Type: 6, Code: 0, Msg: "group exists"} // OFPET_GROUP_MOD_FAILED/GROUP_EXISTS
	case openflow.TypeMultipartRequest:
		mp, err := openflow.DecodeMultipart(msg)
		if err != nil {
			return nil, err
		}
		var body []byte
		if mp.Type == openflow.MultipartDesc {
			d := openflow.Desc{MfrDesc: "dvs project", HWDesc: "test", SWDesc: "test", SerialNum: "none", DPDesc: "br0"}
			body = d.Append(nil)
		}
		r := openflow.Multipart{Reply: true, Type: mp.Type, Body: body}
		return [][]byte{r.Encode(hd.Xid)}, nil
	}
	return nil, nil
}

func (h *fakeHandler) flowModsDone() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]uint32(nil), h.done...)
}

// newChannel starts a channel and closes it when the test ends.
func newChannel(t *testing.T, cfg Config, h Handler) *Channel {
	t.Helper()
	if h == nil {
		h = &fakeHandler{}
	}
	ch, err := New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(ch.Close)
	return ch
}

// listenAddr returns the bound address of the channel's only listener of
// kind.
func listenAddr(t *testing.T, ch *Channel, kind string) string {
	t.Helper()
	for _, l := range ch.Listeners() {
		if l.Kind == kind {
			return l.Addr
		}
	}
	t.Fatalf("no %s listener in %+v", kind, ch.Listeners())
	return ""
}

// peer is the controller's side of a connection.
type peer struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func newPeer(t *testing.T, nc net.Conn) *peer {
	p := &peer{t: t, nc: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return p
}

func dialPeer(t *testing.T, network, addr string) *peer {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	return newPeer(t, nc)
}

// connect dials and completes the hello exchange.
func connect(t *testing.T, network, addr string) *peer {
	t.Helper()
	p := dialPeer(t, network, addr)
	p.hello()
	return p
}

func (p *peer) hello() {
	p.t.Helper()
	p.send(openflow.OurHello().Encode(1))
	m := p.recv()
	if _, err := openflow.DecodeHello(m); err != nil {
		p.t.Fatalf("switch's first message %x is not a hello: %v", m, err)
	}
}

func (p *peer) send(msg []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(msg); err != nil {
		p.t.Fatalf("writing: %v", err)
	}
}

func (p *peer) recvErr(timeout time.Duration) ([]byte, error) {
	p.nc.SetReadDeadline(time.Now().Add(timeout))
	m, err := openflow.ReadMessage(p.r, nil)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), m...), nil
}

func (p *peer) recv() []byte {
	p.t.Helper()
	m, err := p.recvErr(5 * time.Second)
	if err != nil {
		p.t.Fatalf("reading: %v", err)
	}
	return m
}

// expect reads the next message and checks its type and xid.
func (p *peer) expect(typ uint8, xid uint32) []byte {
	p.t.Helper()
	m := p.recv()
	h, _ := openflow.ParseHeader(m)
	if h.Type != typ || h.Xid != xid {
		p.t.Fatalf("got message type %d xid %d (%x), want type %d xid %d", h.Type, h.Xid, m, typ, xid)
	}
	return m
}

// expectError reads an OFPT_ERROR and checks it.
func (p *peer) expectError(xid uint32, typ, code uint16, offending []byte) {
	p.t.Helper()
	m := p.expect(openflow.TypeError, xid)
	e, err := openflow.DecodeError(m)
	if err != nil {
		p.t.Fatal(err)
	}
	want := offending[:min(len(offending), openflow.ErrorDataMax)]
	if e.Type != typ || e.Code != code || (offending != nil && !bytes.Equal(e.Data, want)) {
		p.t.Fatalf("error type %d code %d data %x, want type %d code %d data %x", e.Type, e.Code, e.Data, typ, code, want)
	}
}

// expectNothing checks that no message arrives within d.
func (p *peer) expectNothing(d time.Duration) {
	p.t.Helper()
	if m, err := p.recvErr(d); err == nil {
		p.t.Fatalf("unexpected message %x", m)
	}
}

// expectClosed checks that the switch closes the connection.
func (p *peer) expectClosed() {
	p.t.Helper()
	for {
		m, err := p.recvErr(5 * time.Second)
		if err == nil {
			if m[1] == openflow.TypeEchoRequest {
				continue
			}
			p.t.Fatalf("got %x, want the connection closed", m)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatalf("connection still open: %v", err)
		}
		return
	}
}

// echo checks that the connection is up and answering.
func (p *peer) echo(xid uint32) {
	p.t.Helper()
	p.send(openflow.Echo{Data: []byte("ping")}.Encode(xid))
	m := p.expect(openflow.TypeEchoReply, xid)
	if string(m[8:]) != "ping" {
		p.t.Fatalf("echo reply data %q", m[8:])
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// checkGoroutines checks that the goroutines started after it was called
// have ended by the end of the test.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
		}
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}

func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// rawMsg builds a message of any version and type.
func rawMsg(version, typ uint8, xid uint32, body []byte) []byte {
	b := openflow.Header{Version: version, Type: typ, Length: uint16(openflow.HeaderLen + len(body)), Xid: xid}.Append(nil)
	return append(b, body...)
}
