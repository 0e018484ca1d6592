package openflow

import "encoding/binary"

// OpenFlow 1.3 has no bundles of its own; the ONF extension (EXT-230),
// which Open vSwitch implements and ovs-ofctl --bundle uses with -O
// OpenFlow13, carries the OpenFlow 1.4 bundle messages in OFPT_EXPERIMENTER
// messages with the ONF experimenter id, and reports bundle errors as
// experimenter errors. What ovs-ofctl -O OpenFlow13 --bundle add-flows
// sends, after the hello: an OPEN_REQUEST (flags atomic|ordered), one
// ADD_MESSAGE per flow mod (the outer xid is the flow mod's), a
// BARRIER_REQUEST, then a COMMIT_REQUEST without a CLOSE_REQUEST; it waits
// for the OPEN_REPLY and the COMMIT_REPLY.

// ETExperimenter is OFPET_EXPERIMENTER. An *Error of this type from this
// package is an ONF extension error; EncodeErrorReply encodes it.
const ETExperimenter uint16 = 0xffff

// ONFExperimenterID is the Open Networking Foundation's experimenter id.
const ONFExperimenterID uint32 = 0x4f4e4600

// ONF experimenter message types.
const (
	ONFTBundleControl    uint32 = 2300
	ONFTBundleAddMessage uint32 = 2301
)

// Bundle control types (ofp_bundle_ctrl_type).
const (
	BundleOpenRequest    uint16 = 0
	BundleOpenReply      uint16 = 1
	BundleCloseRequest   uint16 = 2
	BundleCloseReply     uint16 = 3
	BundleCommitRequest  uint16 = 4
	BundleCommitReply    uint16 = 5
	BundleDiscardRequest uint16 = 6
	BundleDiscardReply   uint16 = 7
)

// Bundle flags (ofp_bundle_flags).
const (
	BundleAtomic  uint16 = 1 << 0
	BundleOrdered uint16 = 1 << 1
	bundleFlags          = BundleAtomic | BundleOrdered
)

// Bundle failure codes (OFPBFC_*, OpenFlow 1.4's OFPET_BUNDLE_FAILED).
// In OpenFlow 1.3 the ONF extension sends them as experimenter errors
// whose exp_code is BundleErrBase plus the code.
const (
	BundleFailedUnknown          uint16 = 0
	BundleFailedEPerm            uint16 = 1
	BundleFailedBadID            uint16 = 2
	BundleFailedBundleExist      uint16 = 3
	BundleFailedBundleClosed     uint16 = 4
	BundleFailedOutOfBundles     uint16 = 5
	BundleFailedBadType          uint16 = 6
	BundleFailedBadFlags         uint16 = 7
	BundleFailedMsgBadLen        uint16 = 8
	BundleFailedMsgBadXID        uint16 = 9
	BundleFailedMsgUnsup         uint16 = 10
	BundleFailedMsgConflict      uint16 = 11
	BundleFailedMsgTooMany       uint16 = 12
	BundleFailedMsgFailed        uint16 = 13
	BundleFailedTimeout          uint16 = 14
	BundleFailedBundleInProgress uint16 = 15
)

// BundleErrBase is the exp_code of OFPBFC_UNKNOWN in the ONF extension.
const BundleErrBase uint16 = 2300

// BundleErr returns the error for bundle failure code (a BundleFailed*
// constant): Type ETExperimenter, Code BundleErrBase+code.
func BundleErr(code uint16, format string, args ...any) *Error {
	return errorf(ETExperimenter, BundleErrBase+code, format, args...)
}

// ExperimenterErrorMsg is an OFPT_ERROR of type OFPET_EXPERIMENTER
// (ofp_error_experimenter_msg).
type ExperimenterErrorMsg struct {
	ExpCode      uint16
	Experimenter uint32
	Data         []byte
}

const experimenterErrorLen = 16

// Encode returns the error message.
func (e ExperimenterErrorMsg) Encode(xid uint32) []byte {
	b := beginMsg(TypeError, xid, experimenterErrorLen+len(e.Data))
	b = be16(b, ETExperimenter, e.ExpCode)
	b = binary.BigEndian.AppendUint32(b, e.Experimenter)
	return finishMsg(append(b, e.Data...))
}

// DecodeExperimenterError decodes an experimenter error message; Data
// aliases msg.
func DecodeExperimenterError(msg []byte) (ExperimenterErrorMsg, error) {
	if _, err := checkMsg(msg, TypeError, experimenterErrorLen); err != nil {
		return ExperimenterErrorMsg{}, err
	}
	if t := binary.BigEndian.Uint16(msg[8:]); t != ETExperimenter {
		return ExperimenterErrorMsg{}, reqErr(BadRequestBadType, "error type %d is not OFPET_EXPERIMENTER", t)
	}
	return ExperimenterErrorMsg{
		ExpCode:      binary.BigEndian.Uint16(msg[10:]),
		Experimenter: binary.BigEndian.Uint32(msg[12:]),
		Data:         msg[experimenterErrorLen:],
	}, nil
}

// EncodeErrorReply returns the OFPT_ERROR answering offending, which
// failed with err, carrying at most ErrorDataMax bytes of it. An error of
// type ETExperimenter (a bundle failure) is sent in the experimenter form
// with the ONF experimenter id, as Open vSwitch sends it; others as
// NewErrorMsg makes them.
func EncodeErrorReply(err *Error, offending []byte, xid uint32) []byte {
	data := offending[:min(len(offending), ErrorDataMax)]
	if err.Type == ETExperimenter {
		return ExperimenterErrorMsg{ExpCode: err.Code, Experimenter: ONFExperimenterID, Data: data}.Encode(xid)
	}
	return NewErrorMsg(err, offending).Encode(xid)
}

// Experimenter is an OFPT_EXPERIMENTER (ofp_experimenter_header and the
// data after it).
type Experimenter struct {
	Experimenter, ExpType uint32
	Data                  []byte
}

const experimenterLen = 16

// Encode returns the experimenter message.
func (e Experimenter) Encode(xid uint32) []byte {
	b := beginMsg(TypeExperimenter, xid, experimenterLen+len(e.Data))
	b = binary.BigEndian.AppendUint32(b, e.Experimenter)
	b = binary.BigEndian.AppendUint32(b, e.ExpType)
	return finishMsg(append(b, e.Data...))
}

// DecodeExperimenter decodes an experimenter message of any experimenter;
// Data aliases msg.
func DecodeExperimenter(msg []byte) (Experimenter, error) {
	if _, err := checkMsg(msg, TypeExperimenter, experimenterLen); err != nil {
		return Experimenter{}, err
	}
	return Experimenter{
		Experimenter: binary.BigEndian.Uint32(msg[8:]),
		ExpType:      binary.BigEndian.Uint32(msg[12:]),
		Data:         msg[experimenterLen:],
	}, nil
}

// DecodeONF decodes an experimenter message this package knows: a
// BundleControl or a BundleAdd. Another experimenter fails with
// OFPBRC_BAD_EXPERIMENTER, another ONF type with OFPBRC_BAD_EXP_TYPE.
func DecodeONF(msg []byte) (any, error) {
	e, err := DecodeExperimenter(msg)
	if err != nil {
		return nil, err
	}
	if e.Experimenter != ONFExperimenterID {
		return nil, reqErr(BadRequestBadExperimenter, "experimenter %#08x", e.Experimenter)
	}
	switch e.ExpType {
	case ONFTBundleControl:
		return DecodeBundleControl(msg)
	case ONFTBundleAddMessage:
		return DecodeBundleAdd(msg)
	}
	return nil, reqErr(BadRequestBadExpType, "ONF experimenter type %d", e.ExpType)
}

// BundleProp is a bundle property (ofp_bundle_prop_header and its data).
// OpenFlow 1.4 defines only the experimenter property, type 0xffff, whose
// Data starts with the experimenter id and exp_type.
type BundleProp struct {
	Type uint16
	Data []byte
}

func appendBundleProps(b []byte, props []BundleProp) []byte {
	for _, p := range props {
		n := 4 + len(p.Data)
		b = be16(b, p.Type, uint16(n))
		b = append(b, p.Data...)
		b = append(b, make([]byte, pad8(n))...)
	}
	return b
}

// decodeBundleProps decodes a property list, the whole of b; Data aliases
// b. Open vSwitch ignores bundle properties, so unknown types are kept.
func decodeBundleProps(b []byte) ([]BundleProp, error) {
	var props []BundleProp
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, reqErr(BadRequestBadLen, "bundle property header needs 4 bytes, have %d", len(b))
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return nil, reqErr(BadRequestBadLen, "bundle property %d has length %d of %d bytes", typ, n, len(b))
		}
		props = append(props, BundleProp{Type: typ, Data: b[4:n]})
		// Tolerate a last property whose padding is missing.
		if n+pad8(n) <= len(b) {
			n += pad8(n)
		} else {
			n = len(b)
		}
		b = b[n:]
	}
	return props, nil
}

// BundleControl is an ONFT_BUNDLE_CONTROL: a request to open, close,
// commit or discard bundle BundleID, or the reply to one.
type BundleControl struct {
	BundleID uint32
	Type     uint16
	Flags    uint16
	Props    []BundleProp
}

const bundleControlLen = experimenterLen + 8

// Encode returns the bundle control message.
func (c BundleControl) Encode(xid uint32) []byte {
	b := beginMsg(TypeExperimenter, xid, bundleControlLen)
	b = binary.BigEndian.AppendUint32(b, ONFExperimenterID)
	b = binary.BigEndian.AppendUint32(b, ONFTBundleControl)
	b = binary.BigEndian.AppendUint32(b, c.BundleID)
	b = be16(b, c.Type, c.Flags)
	return finishMsg(appendBundleProps(b, c.Props))
}

// Reply returns the reply to c, a request: the same bundle and flags with
// the matching reply type and no properties.
func (c BundleControl) Reply() BundleControl {
	return BundleControl{BundleID: c.BundleID, Type: c.Type | 1, Flags: c.Flags}
}

// DecodeBundleControl decodes a bundle control message; property data
// aliases msg. An unknown type is OFPBFC_BAD_TYPE and an unknown flag
// OFPBFC_BAD_FLAGS.
func DecodeBundleControl(msg []byte) (BundleControl, error) {
	if err := checkONF(msg, ONFTBundleControl, bundleControlLen); err != nil {
		return BundleControl{}, err
	}
	c := BundleControl{
		BundleID: binary.BigEndian.Uint32(msg[16:]),
		Type:     binary.BigEndian.Uint16(msg[20:]),
		Flags:    binary.BigEndian.Uint16(msg[22:]),
	}
	if c.Type > BundleDiscardReply {
		return BundleControl{}, BundleErr(BundleFailedBadType, "bundle control type %d", c.Type)
	}
	if c.Flags&^bundleFlags != 0 {
		return BundleControl{}, BundleErr(BundleFailedBadFlags, "bundle flags %#x", c.Flags)
	}
	props, err := decodeBundleProps(msg[bundleControlLen:])
	if err != nil {
		return BundleControl{}, err
	}
	c.Props = props
	return c, nil
}

func checkONF(msg []byte, expType uint32, min int) error {
	e, err := DecodeExperimenter(msg)
	if err != nil {
		return err
	}
	if e.Experimenter != ONFExperimenterID {
		return reqErr(BadRequestBadExperimenter, "experimenter %#08x", e.Experimenter)
	}
	if e.ExpType != expType {
		return reqErr(BadRequestBadExpType, "ONF experimenter type %d, want %d", e.ExpType, expType)
	}
	if len(msg) < min {
		return reqErr(BadRequestBadLen, "ONF message type %d is %d bytes, need %d", expType, len(msg), min)
	}
	return nil
}

// BundleAdd is an ONFT_BUNDLE_ADD_MESSAGE: Message, a whole OpenFlow
// message with its own header, to be added to bundle BundleID. The
// message's xid must be the outer one.
type BundleAdd struct {
	BundleID uint32
	Flags    uint16
	Message  []byte
	Props    []BundleProp
}

const bundleAddLen = experimenterLen + 8

// Encode returns the bundle add message; xid should be the embedded
// message's.
func (a BundleAdd) Encode(xid uint32) []byte {
	b := beginMsg(TypeExperimenter, xid, bundleAddLen+len(a.Message))
	b = binary.BigEndian.AppendUint32(b, ONFExperimenterID)
	b = binary.BigEndian.AppendUint32(b, ONFTBundleAddMessage)
	b = binary.BigEndian.AppendUint32(b, a.BundleID)
	b = be16(b, 0, a.Flags)
	b = append(b, a.Message...)
	if len(a.Props) > 0 {
		b = append(b, make([]byte, pad8(len(a.Message)))...)
		b = appendBundleProps(b, a.Props)
	}
	return finishMsg(b)
}

// Bundlable reports whether a message of type typ may be added to a
// bundle: the state changes Open vSwitch accepts in one.
func Bundlable(typ uint8) bool {
	switch typ {
	case TypeFlowMod, TypeGroupMod, TypePortMod, TypePacketOut:
		return true
	}
	return false
}

// DecodeBundleAdd decodes a bundle add message; Message and property data
// alias msg. It checks the embedded message as Open vSwitch does: its
// header must fit (else OFPBFC_MSG_BAD_LEN), its version must be the
// outer one (OFPBRC_BAD_VERSION; OpenFlow 1.3 has no bundle code for
// it), its xid the outer one (OFPBFC_MSG_BAD_XID) and its type Bundlable
// (OFPBFC_MSG_UNSUP). The body is decoded when the bundle is committed.
func DecodeBundleAdd(msg []byte) (BundleAdd, error) {
	if err := checkONF(msg, ONFTBundleAddMessage, bundleAddLen); err != nil {
		return BundleAdd{}, err
	}
	a := BundleAdd{
		BundleID: binary.BigEndian.Uint32(msg[16:]),
		Flags:    binary.BigEndian.Uint16(msg[22:]),
	}
	if a.Flags&^bundleFlags != 0 {
		return BundleAdd{}, BundleErr(BundleFailedBadFlags, "bundle flags %#x", a.Flags)
	}
	rest := msg[bundleAddLen:]
	if len(rest) < HeaderLen {
		return BundleAdd{}, BundleErr(BundleFailedMsgBadLen, "bundled message of %d bytes has no header", len(rest))
	}
	h, _ := ParseHeader(rest)
	if h.Version != msg[0] {
		return BundleAdd{}, reqErr(BadRequestBadVersion, "bundled message has version %#x, outer %#x", h.Version, msg[0])
	}
	n := int(h.Length)
	if n < HeaderLen || n > len(rest) {
		return BundleAdd{}, BundleErr(BundleFailedMsgBadLen, "bundled message length %d of %d bytes", n, len(rest))
	}
	if h.Xid != binary.BigEndian.Uint32(msg[4:]) {
		return BundleAdd{}, BundleErr(BundleFailedMsgBadXID, "bundled message xid %#x, outer %#x", h.Xid, binary.BigEndian.Uint32(msg[4:]))
	}
	if !Bundlable(h.Type) {
		return BundleAdd{}, BundleErr(BundleFailedMsgUnsup, "message type %d cannot be bundled", h.Type)
	}
	a.Message = rest[:n]
	if rest = rest[n:]; len(rest) > 0 {
		if len(rest) < pad8(n) {
			return BundleAdd{}, reqErr(BadRequestBadLen, "%d bytes after the bundled message", len(rest))
		}
		props, err := decodeBundleProps(rest[pad8(n):])
		if err != nil {
			return BundleAdd{}, err
		}
		a.Props = props
	}
	return a, nil
}
