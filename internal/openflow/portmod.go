package openflow

import "encoding/binary"

// Error types for port, table and queue configuration.
const (
	ETPortModFailed  uint16 = 7
	ETTableModFailed uint16 = 8
	ETQueueOpFailed  uint16 = 9
)

// OFPET_PORT_MOD_FAILED codes.
const (
	PortModFailedBadPort      uint16 = 0
	PortModFailedBadHWAddr    uint16 = 1
	PortModFailedBadConfig    uint16 = 2
	PortModFailedBadAdvertise uint16 = 3
	PortModFailedEPerm        uint16 = 4
)

// OFPET_TABLE_MOD_FAILED codes.
const (
	TableModFailedBadTable  uint16 = 0
	TableModFailedBadConfig uint16 = 1
	TableModFailedEPerm     uint16 = 2
)

// OFPET_QUEUE_OP_FAILED codes.
const (
	QueueOpFailedBadPort  uint16 = 0
	QueueOpFailedBadQueue uint16 = 1
	QueueOpFailedEPerm    uint16 = 2
)

// PortModErr returns an OFPET_PORT_MOD_FAILED error; the switch uses it to
// refuse a port mod that decoded cleanly.
func PortModErr(code uint16, format string, args ...any) *Error {
	return errorf(ETPortModFailed, code, format, args...)
}

// TableModErr returns an OFPET_TABLE_MOD_FAILED error.
func TableModErr(code uint16, format string, args ...any) *Error {
	return errorf(ETTableModFailed, code, format, args...)
}

// PortConfigMask holds the ofp_port_config bits a port mod may change.
const PortConfigMask = PortConfigDown | PortConfigNoRecv | PortConfigNoFwd | PortConfigNoPacketIn

// PortMod is an OFPT_PORT_MOD: set the Config bits selected by Mask on the
// port PortNo whose address is HWAddr, and advertise Advertise (zero
// leaves the advertised features alone).
type PortMod struct {
	PortNo    uint32
	HWAddr    [6]byte
	Config    uint32
	Mask      uint32
	Advertise uint32
}

const portModLen = 40

// Encode returns the port mod message.
func (p PortMod) Encode(xid uint32) []byte {
	b := beginMsg(TypePortMod, xid, portModLen)
	b = binary.BigEndian.AppendUint32(b, p.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, p.HWAddr[:]...)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint32(b, p.Config)
	b = binary.BigEndian.AppendUint32(b, p.Mask)
	b = binary.BigEndian.AppendUint32(b, p.Advertise)
	return finishMsg(append(b, 0, 0, 0, 0))
}

// DecodePortMod decodes a port mod. It checks the framing and that Config
// and Mask name only ofp_port_config bits (OFPPMFC_BAD_CONFIG); whether the
// port and address exist is for the switch to check.
func DecodePortMod(msg []byte) (PortMod, error) {
	if _, err := checkMsg(msg, TypePortMod, portModLen); err != nil {
		return PortMod{}, err
	}
	if len(msg) != portModLen {
		return PortMod{}, reqErr(BadRequestBadLen, "port mod is %d bytes, want %d", len(msg), portModLen)
	}
	p := PortMod{
		PortNo:    binary.BigEndian.Uint32(msg[8:]),
		Config:    binary.BigEndian.Uint32(msg[24:]),
		Mask:      binary.BigEndian.Uint32(msg[28:]),
		Advertise: binary.BigEndian.Uint32(msg[32:]),
	}
	copy(p.HWAddr[:], msg[16:22])
	if bad := (p.Config | p.Mask) &^ PortConfigMask; bad != 0 {
		return PortMod{}, PortModErr(PortModFailedBadConfig, "port config bits %#x", bad)
	}
	return p, nil
}

// TableMod is an OFPT_TABLE_MOD. OpenFlow 1.3 defines no table config
// bits (OFPTC_DEPRECATED_MASK, 3, is what 1.1 used); the switch decides
// what to make of any it is sent.
type TableMod struct {
	TableID uint8
	Config  uint32
}

const tableModLen = 16

// Encode returns the table mod message.
func (t TableMod) Encode(xid uint32) []byte {
	b := beginMsg(TypeTableMod, xid, tableModLen)
	b = append(b, t.TableID, 0, 0, 0)
	return finishMsg(binary.BigEndian.AppendUint32(b, t.Config))
}

// DecodeTableMod decodes a table mod.
func DecodeTableMod(msg []byte) (TableMod, error) {
	if _, err := checkMsg(msg, TypeTableMod, tableModLen); err != nil {
		return TableMod{}, err
	}
	if len(msg) != tableModLen {
		return TableMod{}, reqErr(BadRequestBadLen, "table mod is %d bytes, want %d", len(msg), tableModLen)
	}
	return TableMod{TableID: msg[8], Config: binary.BigEndian.Uint32(msg[12:])}, nil
}

// QueueGetConfigRequest is an OFPT_QUEUE_GET_CONFIG_REQUEST for Port
// (OFPP_ANY for all ports).
type QueueGetConfigRequest struct {
	Port uint32
}

const queueGetConfigLen = 16

// Encode returns the request message.
func (q QueueGetConfigRequest) Encode(xid uint32) []byte {
	b := beginMsg(TypeQueueGetConfigRequest, xid, queueGetConfigLen)
	b = binary.BigEndian.AppendUint32(b, q.Port)
	return finishMsg(append(b, 0, 0, 0, 0))
}

// DecodeQueueGetConfigRequest decodes a queue config request.
func DecodeQueueGetConfigRequest(msg []byte) (QueueGetConfigRequest, error) {
	if _, err := checkMsg(msg, TypeQueueGetConfigRequest, queueGetConfigLen); err != nil {
		return QueueGetConfigRequest{}, err
	}
	if len(msg) != queueGetConfigLen {
		return QueueGetConfigRequest{}, reqErr(BadRequestBadLen, "queue config request is %d bytes, want %d", len(msg), queueGetConfigLen)
	}
	return QueueGetConfigRequest{Port: binary.BigEndian.Uint32(msg[8:])}, nil
}

// QueueRateNone in PacketQueue.MinRate or MaxRate says the queue has no
// such property. Rates are in tenths of a percent; above 1000 is disabled.
const QueueRateNone uint16 = 0xffff

// PacketQueue is an ofp_packet_queue with its rate properties.
type PacketQueue struct {
	QueueID, Port    uint32
	MinRate, MaxRate uint16 // QueueRateNone when absent
}

// Queue property types (ofp_queue_properties).
const (
	queuePropMinRate      = 1
	queuePropMaxRate      = 2
	queuePropExperimenter = 0xffff
)

const (
	packetQueueLen   = 16
	queuePropRateLen = 16
)

// QueueGetConfigReply is an OFPT_QUEUE_GET_CONFIG_REPLY. A switch without
// queues answers with Port and no Queues.
type QueueGetConfigReply struct {
	Port   uint32
	Queues []PacketQueue
}

// Encode returns the reply message.
func (q QueueGetConfigReply) Encode(xid uint32) []byte {
	b := beginMsg(TypeQueueGetConfigReply, xid, queueGetConfigLen+len(q.Queues)*(packetQueueLen+2*queuePropRateLen))
	b = binary.BigEndian.AppendUint32(b, q.Port)
	b = append(b, 0, 0, 0, 0)
	for _, pq := range q.Queues {
		start := len(b)
		b = binary.BigEndian.AppendUint32(b, pq.QueueID)
		b = binary.BigEndian.AppendUint32(b, pq.Port)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
		for _, p := range [...]struct {
			typ  uint16
			rate uint16
		}{{queuePropMinRate, pq.MinRate}, {queuePropMaxRate, pq.MaxRate}} {
			if p.rate == QueueRateNone {
				continue
			}
			b = be16(b, p.typ, queuePropRateLen)
			b = append(b, 0, 0, 0, 0)
			b = binary.BigEndian.AppendUint16(b, p.rate)
			b = append(b, 0, 0, 0, 0, 0, 0)
		}
		binary.BigEndian.PutUint16(b[start+8:], uint16(len(b)-start))
	}
	return finishMsg(b)
}

// DecodeQueueGetConfigReply decodes a queue config reply. Experimenter
// queue properties are skipped.
func DecodeQueueGetConfigReply(msg []byte) (QueueGetConfigReply, error) {
	if _, err := checkMsg(msg, TypeQueueGetConfigReply, queueGetConfigLen); err != nil {
		return QueueGetConfigReply{}, err
	}
	q := QueueGetConfigReply{Port: binary.BigEndian.Uint32(msg[8:])}
	for b := msg[queueGetConfigLen:]; len(b) > 0; {
		if len(b) < packetQueueLen {
			return QueueGetConfigReply{}, reqErr(BadRequestBadLen, "packet queue of %d bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[8:]))
		if n < packetQueueLen || n > len(b) {
			return QueueGetConfigReply{}, reqErr(BadRequestBadLen, "packet queue length %d of %d bytes", n, len(b))
		}
		pq := PacketQueue{
			QueueID: binary.BigEndian.Uint32(b),
			Port:    binary.BigEndian.Uint32(b[4:]),
			MinRate: QueueRateNone,
			MaxRate: QueueRateNone,
		}
		props := b[packetQueueLen:n]
		b = b[n:]
		for len(props) > 0 {
			if len(props) < 8 {
				return QueueGetConfigReply{}, reqErr(BadRequestBadLen, "queue property of %d bytes", len(props))
			}
			typ, pn := binary.BigEndian.Uint16(props), int(binary.BigEndian.Uint16(props[2:]))
			if pn < 8 || pn%8 != 0 || pn > len(props) {
				return QueueGetConfigReply{}, reqErr(BadRequestBadLen, "queue property %d has length %d of %d bytes", typ, pn, len(props))
			}
			p := props[:pn]
			props = props[pn:]
			switch typ {
			case queuePropMinRate, queuePropMaxRate:
				if pn != queuePropRateLen {
					return QueueGetConfigReply{}, reqErr(BadRequestBadLen, "queue rate property has length %d", pn)
				}
				r := binary.BigEndian.Uint16(p[8:])
				if typ == queuePropMinRate {
					pq.MinRate = r
				} else {
					pq.MaxRate = r
				}
			case queuePropExperimenter:
			default:
				return QueueGetConfigReply{}, reqErr(BadRequestBadType, "queue property type %d", typ)
			}
		}
		q.Queues = append(q.Queues, pq)
	}
	return q, nil
}
