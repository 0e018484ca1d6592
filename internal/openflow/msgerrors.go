package openflow

// More error types (ofp_error_type), for the message decoders.
const (
	ETHelloFailed        uint16 = 0
	ETFlowModFailed      uint16 = 5
	ETSwitchConfigFailed uint16 = 10
)

// OFPET_HELLO_FAILED codes.
const (
	HelloFailedIncompatible uint16 = 0
	HelloFailedEPerm        uint16 = 1
)

// OFPET_BAD_REQUEST codes.
const (
	BadRequestBadVersion      uint16 = 0
	BadRequestBadType         uint16 = 1
	BadRequestBadMultipart    uint16 = 2
	BadRequestBadExperimenter uint16 = 3
	BadRequestBadExpType      uint16 = 4
	BadRequestEPerm           uint16 = 5
	BadRequestBadLen          uint16 = 6
	BadRequestBufferEmpty     uint16 = 7
	BadRequestBufferUnknown   uint16 = 8
	BadRequestBadTableID      uint16 = 9
	BadRequestIsSlave         uint16 = 10
	BadRequestBadPort         uint16 = 11
	BadRequestBadPacket       uint16 = 12
)

// OFPET_FLOW_MOD_FAILED codes.
const (
	FlowModFailedUnknown    uint16 = 0
	FlowModFailedTableFull  uint16 = 1
	FlowModFailedBadTableID uint16 = 2
	FlowModFailedOverlap    uint16 = 3
	FlowModFailedEPerm      uint16 = 4
	FlowModFailedBadTimeout uint16 = 5
	FlowModFailedBadCommand uint16 = 6
	FlowModFailedBadFlags   uint16 = 7
)

func reqErr(code uint16, format string, args ...any) *Error {
	return errorf(ETBadRequest, code, format, args...)
}
