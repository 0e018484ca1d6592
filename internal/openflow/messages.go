package openflow

import "encoding/binary"

// Message bodies are encoded by an Encode method that writes the whole
// message, ofp_header included, with the given xid, and decoded by a Decode
// function that takes a whole message as ReadMessage returns it. Decoders
// check the version, the type and that the header's length is the slice's
// length before looking at the body; every error is an *Error an
// OFPT_ERROR reply can carry. Encode methods do not check that a message
// fits the header's 16-bit length: callers keep data and action lists
// within 65535 bytes, less the fixed part.

// OFP_NO_BUFFER and the reserved group number OFPG_ANY.
const (
	NoBuffer uint32 = 0xffffffff
	GroupAny uint32 = 0xffffffff
)

// ErrorDataMax is how much of an offending message an error reply carries.
const ErrorDataMax = 64

// beginMsg starts a message of type typ; finishMsg sets its length.
func beginMsg(typ uint8, xid uint32, size int) []byte {
	return Header{Version: Version, Type: typ, Xid: xid}.Append(make([]byte, 0, size))
}

func finishMsg(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// checkMsg checks that msg is a whole OpenFlow 1.3 message of type typ at
// least min bytes long.
func checkMsg(msg []byte, typ uint8, min int) (Header, error) {
	if len(msg) < HeaderLen {
		return Header{}, reqErr(BadRequestBadLen, "message of %d bytes has no header", len(msg))
	}
	h, _ := ParseHeader(msg)
	if h.Version != Version {
		return h, reqErr(BadRequestBadVersion, "version %#x, want %#x", h.Version, Version)
	}
	if h.Type != typ {
		return h, reqErr(BadRequestBadType, "message type %d, want %d", h.Type, typ)
	}
	if int(h.Length) != len(msg) {
		return h, reqErr(BadRequestBadLen, "header length %d but message is %d bytes", h.Length, len(msg))
	}
	if len(msg) < min {
		return h, reqErr(BadRequestBadLen, "message type %d is %d bytes, need %d", typ, len(msg), min)
	}
	return h, nil
}

// EncodeEmpty encodes a message with no body, such as FEATURES_REQUEST,
// GET_CONFIG_REQUEST, BARRIER_REQUEST or BARRIER_REPLY.
func EncodeEmpty(typ uint8, xid uint32) []byte {
	return finishMsg(beginMsg(typ, xid, HeaderLen))
}

// DecodeEmpty checks that msg is a message of type typ with no body.
func DecodeEmpty(msg []byte, typ uint8) error {
	if _, err := checkMsg(msg, typ, HeaderLen); err != nil {
		return err
	}
	if len(msg) != HeaderLen {
		return reqErr(BadRequestBadLen, "message type %d has a %d-byte body, want none", typ, len(msg)-HeaderLen)
	}
	return nil
}

// Hello element types.
const helloElemVersionBitmap = 1

// Hello is an OFPT_HELLO. Bitmap is the version bitmap element, bit n of
// word i set when version 32*i+n is supported; nil if the hello carried
// none. Elements of other types are skipped.
type Hello struct {
	Version uint8 // the header's version
	Bitmap  []uint32
}

// OurHello is the hello this switch sends: version 1.3 only.
func OurHello() Hello { return Hello{Version: Version, Bitmap: []uint32{1 << Version}} }

// Encode returns the hello message.
func (h Hello) Encode(xid uint32) []byte {
	b := Header{Version: h.Version, Type: TypeHello, Xid: xid}.Append(nil)
	if h.Bitmap != nil {
		n := 4 + 4*len(h.Bitmap)
		b = be16(b, helloElemVersionBitmap, uint16(n))
		for _, w := range h.Bitmap {
			b = binary.BigEndian.AppendUint32(b, w)
		}
		b = append(b, make([]byte, pad8(n))...)
	}
	return finishMsg(b)
}

func pad8(n int) int { return (8 - n%8) % 8 }

// DecodeHello decodes a hello of any version, since a hello is how versions
// are negotiated.
func DecodeHello(msg []byte) (Hello, error) {
	if len(msg) < HeaderLen {
		return Hello{}, reqErr(BadRequestBadLen, "message of %d bytes has no header", len(msg))
	}
	hd, _ := ParseHeader(msg)
	if hd.Type != TypeHello {
		return Hello{}, reqErr(BadRequestBadType, "message type %d, want %d", hd.Type, TypeHello)
	}
	if int(hd.Length) != len(msg) {
		return Hello{}, reqErr(BadRequestBadLen, "header length %d but message is %d bytes", hd.Length, len(msg))
	}
	h := Hello{Version: hd.Version}
	b := msg[HeaderLen:]
	for len(b) > 0 {
		if len(b) < 4 {
			return Hello{}, reqErr(BadRequestBadLen, "hello element header needs 4 bytes, have %d", len(b))
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return Hello{}, reqErr(BadRequestBadLen, "hello element %d has length %d of %d bytes", typ, n, len(b))
		}
		body := b[4:n]
		// The element is padded to 8 bytes; tolerate a last element
		// whose padding is missing.
		if n+pad8(n) <= len(b) {
			n += pad8(n)
		} else {
			n = len(b)
		}
		b = b[n:]
		if typ != helloElemVersionBitmap {
			continue
		}
		if h.Bitmap != nil || len(body)%4 != 0 {
			return Hello{}, reqErr(BadRequestBadLen, "bad or repeated version bitmap of %d bytes", len(body))
		}
		h.Bitmap = make([]uint32, 0, len(body)/4)
		for ; len(body) > 0; body = body[4:] {
			h.Bitmap = append(h.Bitmap, binary.BigEndian.Uint32(body))
		}
	}
	return h, nil
}

// supports reports whether h advertises version v. Without a bitmap a
// hello advertises its header version and, by the specification's rule of
// taking the smaller version, every one below it.
func (h Hello) supports(v uint8) bool {
	if h.Bitmap == nil {
		return v <= h.Version
	}
	i := int(v) / 32
	return i < len(h.Bitmap) && h.Bitmap[i]&(1<<(v%32)) != 0
}

// NegotiateVersion returns the highest version both hellos support. If there
// is none it returns an OFPET_HELLO_FAILED/INCOMPATIBLE error.
func NegotiateVersion(ours, theirs Hello) (uint8, error) {
	for v := 255; v > 0; v-- {
		if ours.supports(uint8(v)) && theirs.supports(uint8(v)) {
			return uint8(v), nil
		}
	}
	return 0, errorf(ETHelloFailed, HelloFailedIncompatible, "no common version (ours %#x %x, theirs %#x %x)",
		ours.Version, ours.Bitmap, theirs.Version, theirs.Bitmap)
}

// ErrorMsg is an OFPT_ERROR. For most types Data is the start of the
// offending message.
type ErrorMsg struct {
	Type, Code uint16
	Data       []byte
}

// NewErrorMsg makes the reply to the message offending that failed with
// err, carrying at most ErrorDataMax bytes of it.
func NewErrorMsg(err *Error, offending []byte) ErrorMsg {
	return ErrorMsg{Type: err.Type, Code: err.Code, Data: offending[:min(len(offending), ErrorDataMax)]}
}

// Encode returns the error message.
func (e ErrorMsg) Encode(xid uint32) []byte {
	b := beginMsg(TypeError, xid, 12+len(e.Data))
	b = be16(b, e.Type, e.Code)
	return finishMsg(append(b, e.Data...))
}

// DecodeError decodes an error message; Data aliases msg.
func DecodeError(msg []byte) (ErrorMsg, error) {
	if _, err := checkMsg(msg, TypeError, 12); err != nil {
		return ErrorMsg{}, err
	}
	return ErrorMsg{
		Type: binary.BigEndian.Uint16(msg[8:]),
		Code: binary.BigEndian.Uint16(msg[10:]),
		Data: msg[12:],
	}, nil
}

// Echo is an OFPT_ECHO_REQUEST or OFPT_ECHO_REPLY; a reply returns the
// request's data.
type Echo struct {
	Reply bool
	Data  []byte
}

// Encode returns the echo message.
func (e Echo) Encode(xid uint32) []byte {
	typ := uint8(TypeEchoRequest)
	if e.Reply {
		typ = TypeEchoReply
	}
	return finishMsg(append(beginMsg(typ, xid, HeaderLen+len(e.Data)), e.Data...))
}

// DecodeEcho decodes an echo request or reply; Data aliases msg.
func DecodeEcho(msg []byte) (Echo, error) {
	typ := uint8(TypeEchoRequest)
	if len(msg) >= HeaderLen && msg[1] == TypeEchoReply {
		typ = TypeEchoReply
	}
	if _, err := checkMsg(msg, typ, HeaderLen); err != nil {
		return Echo{}, err
	}
	return Echo{Reply: typ == TypeEchoReply, Data: msg[HeaderLen:]}, nil
}

// Capabilities (ofp_capabilities) for FeaturesReply.
const (
	CapFlowStats   uint32 = 1 << 0
	CapTableStats  uint32 = 1 << 1
	CapPortStats   uint32 = 1 << 2
	CapGroupStats  uint32 = 1 << 3
	CapIPReasm     uint32 = 1 << 5
	CapQueueStats  uint32 = 1 << 6
	CapPortBlocked uint32 = 1 << 8
)

// FeaturesReply is an OFPT_FEATURES_REPLY.
type FeaturesReply struct {
	DatapathID   uint64
	NBuffers     uint32
	NTables      uint8
	AuxiliaryID  uint8
	Capabilities uint32
}

const featuresReplyLen = 32

// Encode returns the features reply.
func (f FeaturesReply) Encode(xid uint32) []byte {
	b := beginMsg(TypeFeaturesReply, xid, featuresReplyLen)
	b = binary.BigEndian.AppendUint64(b, f.DatapathID)
	b = binary.BigEndian.AppendUint32(b, f.NBuffers)
	b = append(b, f.NTables, f.AuxiliaryID, 0, 0)
	b = binary.BigEndian.AppendUint32(b, f.Capabilities)
	b = binary.BigEndian.AppendUint32(b, 0) // reserved
	return finishMsg(b)
}

// DecodeFeaturesReply decodes a features reply.
func DecodeFeaturesReply(msg []byte) (FeaturesReply, error) {
	if _, err := checkMsg(msg, TypeFeaturesReply, featuresReplyLen); err != nil {
		return FeaturesReply{}, err
	}
	if len(msg) != featuresReplyLen {
		return FeaturesReply{}, reqErr(BadRequestBadLen, "features reply is %d bytes, want %d", len(msg), featuresReplyLen)
	}
	return FeaturesReply{
		DatapathID:   binary.BigEndian.Uint64(msg[8:]),
		NBuffers:     binary.BigEndian.Uint32(msg[16:]),
		NTables:      msg[20],
		AuxiliaryID:  msg[21],
		Capabilities: binary.BigEndian.Uint32(msg[24:]),
	}, nil
}

// Switch configuration flags (ofp_config_flags).
const (
	ConfigFragNormal uint16 = 0
	ConfigFragDrop   uint16 = 1
	ConfigFragReasm  uint16 = 2
	ConfigFragMask   uint16 = 3
	// ConfigInvalidTTLToController (OFPC_INVALID_TTL_TO_CONTROLLER) asks
	// for packet-ins of packets whose TTL expired.
	ConfigInvalidTTLToController uint16 = 4
)

// ControllerMaxLenNoBuffer (OFPCML_NO_BUFFER) asks for whole packets.
const ControllerMaxLenNoBuffer uint16 = 0xffff

// SwitchConfig is the body of OFPT_GET_CONFIG_REPLY and OFPT_SET_CONFIG.
type SwitchConfig struct {
	Flags       uint16
	MissSendLen uint16
}

const switchConfigLen = 12

// Encode returns a message of type typ (TypeGetConfigReply or
// TypeSetConfig) carrying c.
func (c SwitchConfig) Encode(typ uint8, xid uint32) []byte {
	return finishMsg(be16(beginMsg(typ, xid, switchConfigLen), c.Flags, c.MissSendLen))
}

// DecodeSwitchConfig decodes a GET_CONFIG_REPLY or SET_CONFIG.
func DecodeSwitchConfig(msg []byte) (SwitchConfig, error) {
	typ := uint8(TypeSetConfig)
	if len(msg) >= HeaderLen && msg[1] == TypeGetConfigReply {
		typ = TypeGetConfigReply
	}
	if _, err := checkMsg(msg, typ, switchConfigLen); err != nil {
		return SwitchConfig{}, err
	}
	if len(msg) != switchConfigLen {
		return SwitchConfig{}, reqErr(BadRequestBadLen, "switch config is %d bytes, want %d", len(msg), switchConfigLen)
	}
	return SwitchConfig{
		Flags:       binary.BigEndian.Uint16(msg[8:]),
		MissSendLen: binary.BigEndian.Uint16(msg[10:]),
	}, nil
}
