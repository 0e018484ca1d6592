package openflow

// DecodeMessage decodes a whole message by its header's type, returning
// one of Hello, ErrorMsg, Echo, FeaturesReply, SwitchConfig, FlowMod,
// GroupMod, PacketIn, PacketOut, FlowRemoved, PortStatus, Multipart (whose body
// is left raw), RoleMsg, AsyncConfig, PortMod, TableMod,
// QueueGetConfigRequest, QueueGetConfigReply, MeterMod, or for an experimenter
// message what DecodeONF returns, or nil for the bodiless
// FEATURES_REQUEST, GET_CONFIG_REQUEST, BARRIER_REQUEST/REPLY and
// GET_ASYNC_REQUEST. Other
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
	case TypeFeaturesRequest, TypeGetConfigRequest, TypeBarrierRequest, TypeBarrierReply, TypeGetAsyncRequest:
		return nil, DecodeEmpty(msg, msg[1])
	case TypeFeaturesReply:
		return DecodeFeaturesReply(msg)
	case TypeGetConfigReply, TypeSetConfig:
		return DecodeSwitchConfig(msg)
	case TypeFlowMod:
		return DecodeFlowMod(msg)
	case TypeGroupMod:
		return DecodeGroupMod(msg)
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
	case TypePortMod:
		return DecodePortMod(msg)
	case TypeTableMod:
		return DecodeTableMod(msg)
	case TypeQueueGetConfigRequest:
		return DecodeQueueGetConfigRequest(msg)
	case TypeQueueGetConfigReply:
		return DecodeQueueGetConfigReply(msg)
	case TypeExperimenter:
		return DecodeONF(msg)
	case TypeRoleRequest, TypeRoleReply:
		return DecodeRole(msg)
	case TypeGetAsyncReply, TypeSetAsync:
		return DecodeAsyncConfig(msg)
	case TypeMeterMod:
		return DecodeMeterMod(msg)
	}
	return nil, reqErr(BadRequestBadType, "unsupported message type %d", msg[1])
}
