// Command ofsink is an OpenFlow 1.3 switch that applies nothing: it answers
// the hello, echo, barrier and bundle control requests that `ovs-ofctl
// add-flows` sends and discards everything else. bench/ofinstall.sh times
// ovs-ofctl against it to measure what ovs-ofctl itself costs (parsing the
// file, encoding and sending), the floor under any switch's install time.
//
//	ofsink PATH    (listens on the unix socket PATH until killed)
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"

	"github.com/dvs-project/dvs/internal/openflow"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ofsink UNIX-SOCKET-PATH")
		os.Exit(2)
	}
	os.Remove(os.Args[1])
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ofsink:", err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ofsink:", err)
			os.Exit(1)
		}
		go serve(c)
	}
}

// serve answers c's requests until it closes.
func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	w.Write(openflow.OurHello().Encode(0))
	w.Flush()
	var msg []byte
	for {
		var err error
		if msg, err = openflow.ReadMessage(r, msg[:0]); err != nil {
			return
		}
		h, _ := openflow.ParseHeader(msg)
		switch h.Type {
		case openflow.TypeEchoRequest:
			e := openflow.Echo{Reply: true, Data: append([]byte(nil), msg[8:]...)}
			w.Write(e.Encode(h.Xid))
		case openflow.TypeMultipartRequest:
			// ovs-ofctl asks for the table features and the ports first
			// (for their names): one table, no port.
			if mp, err := openflow.DecodeMultipart(msg); err == nil {
				rep := openflow.Multipart{Reply: true, Type: mp.Type}
				if mp.Type == openflow.MultipartTableFeatures {
					tf := openflow.NewTableFeatures(0, "table0", 1_000_000, nil)
					rep.Body, _ = openflow.AppendTableFeatures(nil, []openflow.TableFeatures{tf})
				}
				w.Write(rep.Encode(h.Xid))
			}
		case openflow.TypeBarrierRequest:
			w.Write(openflow.EncodeEmpty(openflow.TypeBarrierReply, h.Xid))
		case openflow.TypeExperimenter:
			if bc, err := openflow.DecodeBundleControl(msg); err == nil {
				w.Write(bc.Reply().Encode(h.Xid))
			}
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}
