package flow

// Meter ids.
const (
	MeterMax        uint32 = 0xffff0000 // highest ordinary meter id
	MeterSlowPath   uint32 = 0xfffffffd
	MeterController uint32 = 0xfffffffe
	MeterAll        uint32 = 0xffffffff
)

// MeterFlags (ofp_meter_flags).
type MeterFlags uint16

const (
	MeterKbps  MeterFlags = 1 << 0 // rates in kilobits per second
	MeterPktps MeterFlags = 1 << 1 // rates in packets per second
	MeterBurst MeterFlags = 1 << 2 // bands use their burst size
	MeterStats MeterFlags = 1 << 3 // collect statistics
)

// MeterBandType (ofp_meter_band_type).
type MeterBandType uint16

const (
	BandDrop       MeterBandType = 1 // drop packets over the rate
	BandDSCPRemark MeterBandType = 2 // raise the drop precedence (DSCP) of packets over the rate
)

// MeterBand is one band of a meter: it applies to packets above Rate.
type MeterBand struct {
	Type      MeterBandType
	Rate      uint32 // kb/s or packets/s, per the meter's flags
	Burst     uint32 // kilobits or packets, with MeterBurst
	PrecLevel uint8  // BandDSCPRemark: how much to raise the drop precedence
}

// MeterSpec is a meter's configuration, as a meter_mod carries it.
type MeterSpec struct {
	ID    uint32
	Flags MeterFlags
	Bands []MeterBand
}
