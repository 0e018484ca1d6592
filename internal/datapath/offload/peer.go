package offload

import (
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// peer is what the kernel path knows of the other end of a veth: when the
// other end sits in another network namespace, a packet can be handed
// straight to its ingress (bpf_redirect_peer), skipping the veth's
// transmit and a second pass through the receive backlog.
type peer struct {
	ok  bool // a veth whose other end is in another namespace
	mac [6]byte
}

// peerOf looks up the other end of the veth ifindex in the calling
// thread's namespace: its MAC address, read from its own namespace by
// namespace id (IFLA_TARGET_NETNSID, Linux 4.20).
func peerOf(ifindex int) peer {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return peer{}
	}
	a := l.Attrs()
	if _, ok := l.(*netlink.Veth); !ok || a.NetNsID < 0 || a.ParentIndex == 0 {
		return peer{}
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(a.ParentIndex)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(a.NetNsID))))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if err != nil || len(msgs) != 1 {
		return peer{}
	}
	pl, err := netlink.LinkDeserialize(nil, msgs[0])
	if err != nil {
		return peer{}
	}
	mac := pl.Attrs().HardwareAddr
	if len(mac) != 6 || mac[0]&1 != 0 || isZero(mac) {
		return peer{}
	}
	return peer{ok: true, mac: [6]byte(mac)}
}

func isZero(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}
