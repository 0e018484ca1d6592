package openflow

import "fmt"

// Error is an OpenFlow error: Type and Code are what an OFPT_ERROR reply
// carries (ofp_error_type and its code), Msg says what was wrong.
type Error struct {
	Type, Code uint16
	Msg        string
}

func (e *Error) Error() string {
	return fmt.Sprintf("openflow error type %d code %d: %s", e.Type, e.Code, e.Msg)
}

// Is makes errors.Is match on Type and Code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type && t.Code == e.Code
}

func errorf(typ, code uint16, format string, args ...any) *Error {
	return &Error{Type: typ, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Error types (ofp_error_type) used by this package.
const (
	ETBadRequest     uint16 = 1
	ETBadAction      uint16 = 2
	ETBadInstruction uint16 = 3
	ETBadMatch       uint16 = 4
)

// OFPET_BAD_MATCH codes.
const (
	BadMatchBadType       uint16 = 0
	BadMatchBadLen        uint16 = 1
	BadMatchBadTag        uint16 = 2
	BadMatchBadDLAddrMask uint16 = 3
	BadMatchBadNWAddrMask uint16 = 4
	BadMatchBadWildcards  uint16 = 5
	BadMatchBadField      uint16 = 6
	BadMatchBadValue      uint16 = 7
	BadMatchBadMask       uint16 = 8
	BadMatchBadPrereq     uint16 = 9
	BadMatchDupField      uint16 = 10
	BadMatchEPerm         uint16 = 11
)

// OFPET_BAD_ACTION codes.
const (
	BadActionBadType         uint16 = 0
	BadActionBadLen          uint16 = 1
	BadActionBadExperimenter uint16 = 2
	BadActionBadExpType      uint16 = 3
	BadActionBadOutPort      uint16 = 4
	BadActionBadArgument     uint16 = 5
	BadActionEPerm           uint16 = 6
	BadActionTooMany         uint16 = 7
	BadActionBadQueue        uint16 = 8
	BadActionBadOutGroup     uint16 = 9
	BadActionMatchInconsis   uint16 = 10
	BadActionUnsupportedOrd  uint16 = 11
	BadActionBadTag          uint16 = 12
	BadActionBadSetType      uint16 = 13
	BadActionBadSetLen       uint16 = 14
	BadActionBadSetArgument  uint16 = 15
)

// OFPET_BAD_INSTRUCTION codes.
const (
	BadInstUnknownInst       uint16 = 0
	BadInstUnsupInst         uint16 = 1
	BadInstBadTableID        uint16 = 2
	BadInstUnsupMetadata     uint16 = 3
	BadInstUnsupMetadataMask uint16 = 4
	BadInstBadExperimenter   uint16 = 5
	BadInstBadExpType        uint16 = 6
	BadInstBadLen            uint16 = 7
	BadInstEPerm             uint16 = 8
)
