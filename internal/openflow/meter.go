package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// OFPET_METER_MOD_FAILED and its codes.
const (
	ETMeterModFailed uint16 = 12

	MeterModFailedUnknown      uint16 = 0
	MeterModFailedMeterExists  uint16 = 1
	MeterModFailedInvalidMeter uint16 = 2
	MeterModFailedUnknownMeter uint16 = 3
	MeterModFailedBadCommand   uint16 = 4
	MeterModFailedBadFlags     uint16 = 5
	MeterModFailedBadRate      uint16 = 6
	MeterModFailedBadBurst     uint16 = 7
	MeterModFailedBadBand      uint16 = 8
	MeterModFailedBadBandValue uint16 = 9
	MeterModFailedOutOfMeters  uint16 = 10
	MeterModFailedOutOfBands   uint16 = 11
)

// NewMeterModError returns an OFPET_METER_MOD_FAILED error with code, for
// what the meter table refuses.
func NewMeterModError(code uint16, msg string) *Error {
	return &Error{Type: ETMeterModFailed, Code: code, Msg: msg}
}

// Meter mod commands (ofp_meter_mod_command).
const (
	MeterAdd    uint16 = 0
	MeterModify uint16 = 1
	MeterDelete uint16 = 2
)

// Multipart types for meters.
const (
	MultipartMeter         uint16 = 9
	MultipartMeterConfig   uint16 = 10
	MultipartMeterFeatures uint16 = 11
)

const (
	meterModLen = HeaderLen + 8
	bandLen     = 16
)

// MeterMod is an OFPT_METER_MOD. Decoding checks its framing, command and
// band types; the meter's id, flags and rates are the meter table's to
// check (see meter.Validate), since its limits decide what is valid.
type MeterMod struct {
	Command uint16
	Meter   flow.MeterSpec
}

// Encode returns the meter mod. It fails if the message would exceed
// 65535 bytes or a band's type has no encoding.
func (m *MeterMod) Encode(xid uint32) ([]byte, error) {
	b := beginMsg(TypeMeterMod, xid, meterModLen+bandLen*len(m.Meter.Bands))
	b = be16(b, m.Command, uint16(m.Meter.Flags))
	b = binary.BigEndian.AppendUint32(b, m.Meter.ID)
	b, err := appendBands(b, m.Meter.Bands)
	if err != nil {
		return nil, err
	}
	if len(b) > 0xffff {
		return nil, reqErr(BadRequestBadLen, "meter mod of %d bytes", len(b))
	}
	return finishMsg(b), nil
}

// DecodeMeterMod decodes an OFPT_METER_MOD.
func DecodeMeterMod(msg []byte) (MeterMod, error) {
	if _, err := checkMsg(msg, TypeMeterMod, meterModLen); err != nil {
		return MeterMod{}, err
	}
	m := MeterMod{
		Command: binary.BigEndian.Uint16(msg[8:]),
		Meter: flow.MeterSpec{
			Flags: flow.MeterFlags(binary.BigEndian.Uint16(msg[10:])),
			ID:    binary.BigEndian.Uint32(msg[12:]),
		},
	}
	if m.Command > MeterDelete {
		return MeterMod{}, errorf(ETMeterModFailed, MeterModFailedBadCommand, "meter mod command %d", m.Command)
	}
	bands, err := decodeBands(msg[meterModLen:])
	if err != nil {
		return MeterMod{}, err
	}
	m.Meter.Bands = bands
	return m, nil
}

func appendBands(b []byte, bands []flow.MeterBand) ([]byte, error) {
	for _, band := range bands {
		switch band.Type {
		case flow.BandDrop, flow.BandDSCPRemark:
		default:
			return nil, errorf(ETMeterModFailed, MeterModFailedBadBand, "cannot encode band type %d", band.Type)
		}
		b = be16(b, uint16(band.Type), bandLen)
		b = binary.BigEndian.AppendUint32(b, band.Rate)
		b = binary.BigEndian.AppendUint32(b, band.Burst)
		prec := uint8(0)
		if band.Type == flow.BandDSCPRemark {
			prec = band.PrecLevel
		}
		b = append(b, prec, 0, 0, 0)
	}
	return b, nil
}

// decodeBands decodes a list of ofp_meter_band_*, the whole of b.
func decodeBands(b []byte) ([]flow.MeterBand, error) {
	var bands []flow.MeterBand
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, reqErr(BadRequestBadLen, "meter band of %d bytes", len(b))
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < bandLen || n%8 != 0 || n > len(b) {
			return nil, reqErr(BadRequestBadLen, "meter band length %d of %d bytes", n, len(b))
		}
		switch typ {
		case uint16(flow.BandDrop), uint16(flow.BandDSCPRemark):
			if n != bandLen {
				return nil, reqErr(BadRequestBadLen, "meter band type %d of %d bytes, want %d", typ, n, bandLen)
			}
		default:
			// Experimenter bands (0xffff) included: none is supported.
			return nil, errorf(ETMeterModFailed, MeterModFailedBadBand, "meter band type %d", typ)
		}
		band := flow.MeterBand{
			Type:  flow.MeterBandType(typ),
			Rate:  binary.BigEndian.Uint32(b[4:]),
			Burst: binary.BigEndian.Uint32(b[8:]),
		}
		if band.Type == flow.BandDSCPRemark {
			band.PrecLevel = b[12]
		}
		bands = append(bands, band)
		b = b[n:]
	}
	return bands, nil
}

// MeterRequest is the body of an OFPMP_METER or OFPMP_METER_CONFIG
// request (ofp_meter_multipart_request): one meter, or flow.MeterAll.
type MeterRequest struct {
	MeterID uint32
}

const meterRequestLen = 8

// Append appends r's wire form to b.
func (r MeterRequest) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, r.MeterID)
	return append(b, 0, 0, 0, 0)
}

// DecodeMeterRequest decodes an OFPMP_METER or OFPMP_METER_CONFIG request
// body.
func DecodeMeterRequest(body []byte) (MeterRequest, error) {
	if len(body) != meterRequestLen {
		return MeterRequest{}, multipartErr("meter request body is %d bytes, want %d", len(body), meterRequestLen)
	}
	return MeterRequest{MeterID: binary.BigEndian.Uint32(body)}, nil
}

// MeterStats is one entry of an OFPMP_METER reply (ofp_meter_stats).
type MeterStats struct {
	MeterID                   uint32
	FlowCount                 uint32
	PacketInCount             uint64
	ByteInCount               uint64
	DurationSec, DurationNsec uint32
	Bands                     []MeterBandStats
}

// MeterBandStats is ofp_meter_band_stats.
type MeterBandStats struct {
	PacketCount, ByteCount uint64
}

const (
	meterStatsLen     = 40
	meterBandStatsLen = 16
)

// AppendMeterStats appends the entries' wire form to b. It fails if an
// entry exceeds 65535 bytes.
func AppendMeterStats(b []byte, stats []MeterStats) ([]byte, error) {
	for i := range stats {
		s := &stats[i]
		n := meterStatsLen + meterBandStatsLen*len(s.Bands)
		if n > 0xffff {
			return nil, multipartErr("meter stats entry of %d bytes", n)
		}
		b = binary.BigEndian.AppendUint32(b, s.MeterID)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, 0, 0, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, s.FlowCount)
		b = binary.BigEndian.AppendUint64(b, s.PacketInCount)
		b = binary.BigEndian.AppendUint64(b, s.ByteInCount)
		b = binary.BigEndian.AppendUint32(b, s.DurationSec)
		b = binary.BigEndian.AppendUint32(b, s.DurationNsec)
		for _, bs := range s.Bands {
			b = binary.BigEndian.AppendUint64(b, bs.PacketCount)
			b = binary.BigEndian.AppendUint64(b, bs.ByteCount)
		}
	}
	return b, nil
}

// DecodeMeterStats decodes an OFPMP_METER reply body, the whole of body.
func DecodeMeterStats(body []byte) ([]MeterStats, error) {
	var stats []MeterStats
	for len(body) > 0 {
		if len(body) < meterStatsLen {
			return nil, multipartErr("meter stats entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body[4:]))
		if n < meterStatsLen || (n-meterStatsLen)%meterBandStatsLen != 0 || n > len(body) {
			return nil, multipartErr("meter stats entry length %d of %d bytes", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		s := MeterStats{
			MeterID:       binary.BigEndian.Uint32(e),
			FlowCount:     binary.BigEndian.Uint32(e[12:]),
			PacketInCount: binary.BigEndian.Uint64(e[16:]),
			ByteInCount:   binary.BigEndian.Uint64(e[24:]),
			DurationSec:   binary.BigEndian.Uint32(e[32:]),
			DurationNsec:  binary.BigEndian.Uint32(e[36:]),
		}
		for e = e[meterStatsLen:]; len(e) > 0; e = e[meterBandStatsLen:] {
			s.Bands = append(s.Bands, MeterBandStats{
				PacketCount: binary.BigEndian.Uint64(e),
				ByteCount:   binary.BigEndian.Uint64(e[8:]),
			})
		}
		stats = append(stats, s)
	}
	return stats, nil
}

const meterConfigLen = 8

// AppendMeterConfigs appends the OFPMP_METER_CONFIG reply entries
// (ofp_meter_config) for meters to b. It fails if an entry exceeds 65535
// bytes or a band's type has no encoding.
func AppendMeterConfigs(b []byte, meters []flow.MeterSpec) ([]byte, error) {
	for i := range meters {
		m := &meters[i]
		n := meterConfigLen + bandLen*len(m.Bands)
		if n > 0xffff {
			return nil, multipartErr("meter config entry of %d bytes", n)
		}
		b = be16(b, uint16(n), uint16(m.Flags))
		b = binary.BigEndian.AppendUint32(b, m.ID)
		var err error
		if b, err = appendBands(b, m.Bands); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DecodeMeterConfigs decodes an OFPMP_METER_CONFIG reply body, the whole
// of body.
func DecodeMeterConfigs(body []byte) ([]flow.MeterSpec, error) {
	var meters []flow.MeterSpec
	for len(body) > 0 {
		if len(body) < meterConfigLen {
			return nil, multipartErr("meter config entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < meterConfigLen || n > len(body) {
			return nil, multipartErr("meter config entry length %d of %d bytes", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		m := flow.MeterSpec{
			Flags: flow.MeterFlags(binary.BigEndian.Uint16(e[2:])),
			ID:    binary.BigEndian.Uint32(e[4:]),
		}
		var err error
		if m.Bands, err = decodeBands(e[meterConfigLen:]); err != nil {
			return nil, err
		}
		meters = append(meters, m)
	}
	return meters, nil
}

// MeterFeatures is the body of an OFPMP_METER_FEATURES reply
// (ofp_meter_features). BandTypes has bit 1<<t set for each supported
// band type t; Capabilities is the supported flow.MeterFlags.
type MeterFeatures struct {
	MaxMeter     uint32
	BandTypes    uint32
	Capabilities uint32
	MaxBands     uint8
	MaxColor     uint8
}

const meterFeaturesLen = 16

// Append appends f's wire form to b.
func (f MeterFeatures) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, f.MaxMeter)
	b = binary.BigEndian.AppendUint32(b, f.BandTypes)
	b = binary.BigEndian.AppendUint32(b, f.Capabilities)
	return append(b, f.MaxBands, f.MaxColor, 0, 0)
}

// DecodeMeterFeatures decodes an OFPMP_METER_FEATURES reply body.
func DecodeMeterFeatures(body []byte) (MeterFeatures, error) {
	if len(body) != meterFeaturesLen {
		return MeterFeatures{}, multipartErr("meter features body is %d bytes, want %d", len(body), meterFeaturesLen)
	}
	return MeterFeatures{
		MaxMeter:     binary.BigEndian.Uint32(body),
		BandTypes:    binary.BigEndian.Uint32(body[4:]),
		Capabilities: binary.BigEndian.Uint32(body[8:]),
		MaxBands:     body[12],
		MaxColor:     body[13],
	}, nil
}
