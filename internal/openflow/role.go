package openflow

import "encoding/binary"

// Controller roles (ofp_controller_role).
const (
	RoleNoChange uint32 = 0
	RoleEqual    uint32 = 1
	RoleMaster   uint32 = 2
	RoleSlave    uint32 = 3
)

// GenerationIDUndefined is what a role reply carries as its generation id
// before any master or slave request has set one (as Open vSwitch does).
const GenerationIDUndefined uint64 = 0xffffffffffffffff

// OFPET_ROLE_REQUEST_FAILED and its codes.
const (
	ETRoleRequestFailed uint16 = 11

	RoleRequestFailedStale   uint16 = 0
	RoleRequestFailedUnsup   uint16 = 1
	RoleRequestFailedBadRole uint16 = 2
)

// RoleMsg is an OFPT_ROLE_REQUEST or OFPT_ROLE_REPLY.
type RoleMsg struct {
	Reply        bool
	Role         uint32
	GenerationID uint64
}

const roleMsgLen = 24

// Encode returns the role request or reply.
func (r RoleMsg) Encode(xid uint32) []byte {
	typ := uint8(TypeRoleRequest)
	if r.Reply {
		typ = TypeRoleReply
	}
	b := beginMsg(typ, xid, roleMsgLen)
	b = binary.BigEndian.AppendUint32(b, r.Role)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, r.GenerationID)
	return finishMsg(b)
}

// DecodeRole decodes a role request or reply. It does not check the role,
// so that the receiver can answer an unknown one with
// OFPET_ROLE_REQUEST_FAILED/OFPRRFC_BAD_ROLE.
func DecodeRole(msg []byte) (RoleMsg, error) {
	typ := uint8(TypeRoleRequest)
	if len(msg) >= HeaderLen && msg[1] == TypeRoleReply {
		typ = TypeRoleReply
	}
	if _, err := checkMsg(msg, typ, roleMsgLen); err != nil {
		return RoleMsg{}, err
	}
	if len(msg) != roleMsgLen {
		return RoleMsg{}, reqErr(BadRequestBadLen, "role message is %d bytes, want %d", len(msg), roleMsgLen)
	}
	return RoleMsg{
		Reply:        typ == TypeRoleReply,
		Role:         binary.BigEndian.Uint32(msg[8:]),
		GenerationID: binary.BigEndian.Uint64(msg[16:]),
	}, nil
}

// AsyncConfig is the body of OFPT_GET_ASYNC_REPLY and OFPT_SET_ASYNC: which
// asynchronous messages a connection wants, as bit masks of reasons (bit n
// set for reason n). Index 0 applies when the connection's role is master
// or equal, index 1 when it is slave.
type AsyncConfig struct {
	PacketInMask    [2]uint32
	PortStatusMask  [2]uint32
	FlowRemovedMask [2]uint32
}

// DefaultAsyncConfig is the configuration a connection starts with, from
// the OpenFlow 1.3 specification: master and equal get packet-ins for
// table misses and controller actions and every port-status and
// flow-removed; slaves get only port-status.
func DefaultAsyncConfig() AsyncConfig {
	return AsyncConfig{
		PacketInMask:    [2]uint32{1<<PacketInNoMatch | 1<<PacketInAction, 0},
		PortStatusMask:  [2]uint32{1<<PortAdd | 1<<PortDelete | 1<<PortModify, 1<<PortAdd | 1<<PortDelete | 1<<PortModify},
		FlowRemovedMask: [2]uint32{1<<FlowRemovedIdleTimeout | 1<<FlowRemovedHardTimeout | 1<<FlowRemovedDelete | 1<<FlowRemovedGroupDelete, 0},
	}
}

const asyncConfigLen = 32

// Encode returns a message of type typ (TypeGetAsyncReply or TypeSetAsync)
// carrying a.
func (a AsyncConfig) Encode(typ uint8, xid uint32) []byte {
	b := beginMsg(typ, xid, asyncConfigLen)
	for _, m := range [][2]uint32{a.PacketInMask, a.PortStatusMask, a.FlowRemovedMask} {
		b = binary.BigEndian.AppendUint32(b, m[0])
		b = binary.BigEndian.AppendUint32(b, m[1])
	}
	return finishMsg(b)
}

// DecodeAsyncConfig decodes a GET_ASYNC_REPLY or SET_ASYNC.
func DecodeAsyncConfig(msg []byte) (AsyncConfig, error) {
	typ := uint8(TypeSetAsync)
	if len(msg) >= HeaderLen && msg[1] == TypeGetAsyncReply {
		typ = TypeGetAsyncReply
	}
	if _, err := checkMsg(msg, typ, asyncConfigLen); err != nil {
		return AsyncConfig{}, err
	}
	if len(msg) != asyncConfigLen {
		return AsyncConfig{}, reqErr(BadRequestBadLen, "async config is %d bytes, want %d", len(msg), asyncConfigLen)
	}
	u := func(off int) uint32 { return binary.BigEndian.Uint32(msg[off:]) }
	return AsyncConfig{
		PacketInMask:    [2]uint32{u(8), u(12)},
		PortStatusMask:  [2]uint32{u(16), u(20)},
		FlowRemovedMask: [2]uint32{u(24), u(28)},
	}, nil
}
