package offload

import (
	"github.com/cilium/ebpf/asm"
)

// Offsets in struct __sk_buff (include/uapi/linux/bpf.h).
const (
	skbLen         = 0
	skbVLANPresent = 20
	skbVLANTCI     = 24
	skbVLANProto   = 28
	skbIfindex     = 40
	skbGSOSize     = 176
)

// Offsets in the stack frame: the key at keyOff (KeySize bytes), a scratch
// word below it for header bytes.
const (
	keyOff     = -KeySize
	scratchOff = keyOff - 8
)

// Offsets in Value.
const (
	valOut     = 0
	valMaxLen  = 4
	valGen     = 8
	valPackets = 16
	valBytes   = 24
	valFlags   = 32
)

// Return codes.
const (
	tcxNext     = -1 // TCX_NEXT: let the packet go on (to the stack and AF_PACKET)
	filterKeep  = -1 // a socket filter's "keep the whole packet"
	filterDrop  = 0  // a socket filter's "not for this socket"
	labelPass   = "pass"
	labelNoVLAN = "novlan"
)

// lookup returns the instructions shared by both programs: they build the
// key of the packet in ctx (R1) on the stack, look it up in flows, and
// check the entry is valid at the current generation (read from the
// generation map's value) and that the packet is one the userspace path
// would accept. On success R6 is the context, R7 the entry and R8 the byte
// count to credit; anything else jumps to labelPass.
//
// The key must equal Key.FromFlow of the key userspace parses from the same
// frame with its tag restored. The kernel moves a received VLAN tag into
// skb metadata before both AF_PACKET and tc see the packet, so the tag comes
// from there, with TCIPresent set as in flow.VLAN; a tag still in the frame
// (the inner tag of QinQ) makes the packet pass, as do 802.3 frames, ARP
// (rare, and userspace checks its header) and IPv4 and IPv6 headers that
// userspace would drop as malformed. bpf_skb_load_bytes bounds every read,
// so a runt cannot be read past its end.
func lookup(flowsFD, genFD int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, 0),
		asm.StoreMem(asm.RFP, keyOff, asm.R2, asm.DWord),
		asm.StoreMem(asm.RFP, keyOff+8, asm.R2, asm.DWord),
		asm.StoreMem(asm.RFP, keyOff+16, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.RFP, keyOff+keyIfindex, asm.R2, asm.Word),
		// R8: bytes to count, the frame's length with a restored tag.
		asm.LoadMem(asm.R8, asm.R6, skbLen, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, skbVLANPresent, asm.Word),
		asm.JEq.Imm(asm.R2, 0, labelNoVLAN),
		asm.Add.Imm(asm.R8, 4),
		asm.LoadMem(asm.R2, asm.R6, skbVLANTCI, asm.Word),
		asm.Or.Imm(asm.R2, tciPresent),
		asm.StoreMem(asm.RFP, keyOff+keyTCI, asm.R2, asm.Half),
		asm.LoadMem(asm.R2, asm.R6, skbVLANProto, asm.Word),
		asm.HostTo(asm.BE, asm.R2, asm.Half), // network to host order
		asm.StoreMem(asm.RFP, keyOff+keyTPID, asm.R2, asm.Half),
		// The Ethernet header: destination, source, type.
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(labelNoVLAN),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, keyOff+keyEthDst),
		asm.Mov.Imm(asm.R4, 14),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, labelPass), // a runt
		asm.LoadMem(asm.R2, asm.RFP, keyOff+keyEthType, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.JLT.Imm(asm.R2, 0x0600, labelPass), // 802.3
		asm.JEq.Imm(asm.R2, 0x8100, labelPass), // a tag in the frame
		asm.JEq.Imm(asm.R2, 0x88a8, labelPass),
		asm.JEq.Imm(asm.R2, 0x0806, labelPass), // ARP
		asm.JEq.Imm(asm.R2, 0x8035, labelPass), // RARP
		asm.JEq.Imm(asm.R2, 0x0800, "ipv4"),
		asm.JEq.Imm(asm.R2, 0x86dd, "ipv6"),
		asm.Ja.Label("lookup"),

		// IPv4: version 4, a header of 20 bytes or more inside the frame,
		// a total length not below the header (packet.parseIPv4).
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("ipv4"),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, scratchOff),
		asm.Mov.Imm(asm.R4, 4),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(asm.R2, asm.RFP, scratchOff, asm.Byte),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.RSh.Imm(asm.R3, 4),
		asm.JNE.Imm(asm.R3, 4, labelPass),
		asm.And.Imm(asm.R2, 0x0f),
		asm.LSh.Imm(asm.R2, 2), // header length
		asm.JLT.Imm(asm.R2, 20, labelPass),
		asm.LoadMem(asm.R3, asm.R6, skbLen, asm.Word),
		asm.Sub.Imm(asm.R3, 14),
		asm.JGT.Reg(asm.R2, asm.R3, labelPass),
		asm.LoadMem(asm.R3, asm.RFP, scratchOff+2, asm.Half),
		asm.HostTo(asm.BE, asm.R3, asm.Half),
		asm.JLT.Reg(asm.R3, asm.R2, labelPass),
		asm.Ja.Label("lookup"),

		// IPv6: a whole fixed header, version 6 (packet.parseIPv6).
		asm.LoadMem(asm.R3, asm.R6, skbLen, asm.Word).WithSymbol("ipv6"),
		asm.JLT.Imm(asm.R3, 14+40, labelPass),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, scratchOff),
		asm.Mov.Imm(asm.R4, 1),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(asm.R2, asm.RFP, scratchOff, asm.Byte),
		asm.RSh.Imm(asm.R2, 4),
		asm.JNE.Imm(asm.R2, 6, labelPass),

		asm.LoadMapPtr(asm.R1, flowsFD).WithSymbol("lookup"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelPass),
		asm.Mov.Reg(asm.R7, asm.R0),
		// The generation: the entry's must be the current one.
		asm.LoadMapValue(asm.R2, genFD, 0),
		asm.LoadMem(asm.R2, asm.R2, 0, asm.DWord),
		asm.LoadMem(asm.R3, asm.R7, valGen, asm.DWord),
		asm.JNE.Reg(asm.R2, asm.R3, labelPass),
		// Frames longer than the in port takes are userspace's to drop,
		// unless they are GSO super-packets.
		asm.LoadMem(asm.R2, asm.R7, valMaxLen, asm.Word),
		asm.JEq.Imm(asm.R2, 0, "ok"),
		asm.JLE.Reg(asm.R8, asm.R2, "ok"),
		asm.LoadMem(asm.R2, asm.R6, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R2, 0, labelPass),
		asm.Ja.Label("ok"),
	}
}

// tcProgram forwards a packet with a valid entry to the entry's interface
// (bpf_redirect to its egress, which a veth delivers to its peer, or with
// FlagPeer straight to the peer's ingress) and lets every other packet go
// on to the stack, where AF_PACKET already took it.
func tcProgram(flowsFD, genFD int) asm.Instructions {
	insns := lookup(flowsFD, genFD)
	return append(insns,
		asm.Mov.Imm(asm.R2, 1).WithSymbol("ok"),
		asm.AddAtomic.Mem(asm.R7, asm.R2, asm.DWord, valPackets),
		asm.AddAtomic.Mem(asm.R7, asm.R8, asm.DWord, valBytes),
		asm.LoadMem(asm.R1, asm.R7, valOut, asm.Word),
		asm.Mov.Imm(asm.R2, 0),
		asm.LoadMem(asm.R3, asm.R7, valFlags, asm.Word),
		asm.JSet.Imm(asm.R3, FlagPeer, "peer"),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.FnRedirectPeer.Call().WithSymbol("peer"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol(labelPass),
		asm.Return(),
	)
}

// filterProgram is the AF_PACKET socket filter: it hides from the socket
// the packets tcProgram will forward (the socket's tap runs before tc
// ingress) and keeps the rest.
func filterProgram(flowsFD, genFD int) asm.Instructions {
	insns := lookup(flowsFD, genFD)
	return append(insns,
		asm.Mov.Imm(asm.R0, filterDrop).WithSymbol("ok"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, filterKeep).WithSymbol(labelPass),
		asm.Return(),
	)
}
