package openflow

// DecodeMessage decodes a whole message by its header's type, returning
// one of Hello, ErrorMsg, Echo, FeaturesReply, SwitchConfig, FlowMod,
// PacketIn, PacketOut, FlowRemoved, PortStatus or Multipart (whose body
// is left raw), or nil for the bodiless
// FEATURES_REQUEST, GET_CONFIG_REQUEST and BARRIER_REQUEST/REPLY. Other
// types fail with OFPET_BAD_REQUEST/BAD_TYPE.
func DecodeMessage(msg []byte) (any, error) {
	if len(msg) < HeaderLen {
		return nil, reqErr(BadRequestBadLen, "message of %d bytes has no header", len(msg))
	}
	switch msg[1] {
	case TypeHello:
		return DecodeHello(msg)
	case TypeError:
		return DecodeError(msg)
	case TypeEchoRequest, TypeEchoReply:
		return DecodeEcho(msg)
	case TypeFeaturesRequest, TypeGetConfigRequest, TypeBarrierRequest, TypeBarrierReply:
		return nil, DecodeEmpty(msg, msg[1])
	case TypeFeaturesReply:
		return DecodeFeaturesReply(msg)
	case TypeGetConfigReply, TypeSetConfig:
		return DecodeSwitchConfig(msg)
	case TypeFlowMod:
		return DecodeFlowMod(msg)
	case TypePacketIn:
		return DecodePacketIn(msg)
	case TypePacketOut:
		return DecodePacketOut(msg)
	case TypeFlowRemoved:
		return DecodeFlowRemoved(msg)
	case TypePortStatus:
		return DecodePortStatus(msg)
	case TypeMultipartRequest, TypeMultipartReply:
		return DecodeMultipart(msg)
	}
	return nil, reqErr(BadRequestBadType, "unsupported message type %d", msg[1])
}
