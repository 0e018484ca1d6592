package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// OFPET_GROUP_MOD_FAILED and its codes.
const (
	ETGroupModFailed uint16 = 6

	GroupModFailedGroupExists         uint16 = 0
	GroupModFailedInvalidGroup        uint16 = 1
	GroupModFailedWeightUnsupported   uint16 = 2
	GroupModFailedOutOfGroups         uint16 = 3
	GroupModFailedOutOfBuckets        uint16 = 4
	GroupModFailedChainingUnsupported uint16 = 5
	GroupModFailedWatchUnsupported    uint16 = 6
	GroupModFailedLoop                uint16 = 7
	GroupModFailedUnknownGroup        uint16 = 8
	GroupModFailedChainedGroup        uint16 = 9
	GroupModFailedBadType             uint16 = 10
	GroupModFailedBadCommand          uint16 = 11
	GroupModFailedBadBucket           uint16 = 12
	GroupModFailedBadWatch            uint16 = 13
	GroupModFailedEPerm               uint16 = 14
)

// Group mod commands (ofp_group_mod_command).
const (
	GroupAdd    uint16 = 0
	GroupModify uint16 = 1
	GroupDelete uint16 = 2
)

// GroupAll (OFPG_ALL) names every group in a group delete and a group
// stats request.
const GroupAll uint32 = 0xfffffffc

// Group multipart types.
const (
	MultipartGroup         uint16 = 6 // OFPMP_GROUP: group counters
	MultipartGroupDesc     uint16 = 7 // OFPMP_GROUP_DESC: group configurations
	MultipartGroupFeatures uint16 = 8 // OFPMP_GROUP_FEATURES
)

func groupErr(code uint16, format string, args ...any) *Error {
	return errorf(ETGroupModFailed, code, format, args...)
}

const (
	groupModLen     = HeaderLen + 8 // ofp_group_mod without buckets
	bucketLen       = 16            // ofp_bucket without actions
	groupStatsLen   = 40            // ofp_group_stats without bucket counters
	bucketCountLen  = 16            // ofp_bucket_counter
	groupDescLen    = 8             // ofp_group_desc without buckets
	groupFeatureLen = 40            // ofp_group_features
)

// GroupMod is an OFPT_GROUP_MOD. For GroupDelete only Group.ID matters
// (GroupAll deletes every group).
type GroupMod struct {
	Command uint16
	Group   flow.GroupSpec
}

// Encode returns the group mod message. It fails if an action cannot be
// encoded or a bucket exceeds 65535 bytes.
func (m *GroupMod) Encode(xid uint32) ([]byte, error) {
	b := beginMsg(TypeGroupMod, xid, 256)
	b = binary.BigEndian.AppendUint16(b, m.Command)
	b = append(b, uint8(m.Group.Type), 0)
	b = binary.BigEndian.AppendUint32(b, m.Group.ID)
	b, err := appendBuckets(b, m.Group.Buckets)
	if err != nil {
		return nil, err
	}
	return finishMsg(b), nil
}

// DecodeGroupMod decodes a group mod. It checks the message's structure
// (command, type, bucket framing, actions), not whether the group makes
// sense: that is the group table's job. Malformed buckets are
// OFPGMFC_BAD_BUCKET, an unknown command OFPGMFC_BAD_COMMAND, an unknown
// type OFPGMFC_BAD_TYPE; bad actions are OFPET_BAD_ACTION errors.
func DecodeGroupMod(msg []byte) (GroupMod, error) {
	if _, err := checkMsg(msg, TypeGroupMod, groupModLen); err != nil {
		return GroupMod{}, err
	}
	m := GroupMod{
		Command: binary.BigEndian.Uint16(msg[8:]),
		Group: flow.GroupSpec{
			Type: flow.GroupType(msg[10]),
			ID:   binary.BigEndian.Uint32(msg[12:]),
		},
	}
	if m.Command > GroupDelete {
		return GroupMod{}, groupErr(GroupModFailedBadCommand, "group mod command %d", m.Command)
	}
	if m.Group.Type > flow.GroupFastFailover {
		return GroupMod{}, groupErr(GroupModFailedBadType, "group type %d", m.Group.Type)
	}
	buckets, err := decodeBuckets(msg[groupModLen:])
	if err != nil {
		return GroupMod{}, err
	}
	m.Group.Buckets = buckets
	return m, nil
}

// appendBuckets appends the ofp_bucket form of buckets to b.
func appendBuckets(b []byte, buckets []flow.Bucket) ([]byte, error) {
	for i := range buckets {
		bk := &buckets[i]
		start := len(b)
		b = be16(b, 0, bk.Weight)
		b = binary.BigEndian.AppendUint32(b, bk.WatchPort)
		b = binary.BigEndian.AppendUint32(b, bk.WatchGroup)
		b = append(b, 0, 0, 0, 0)
		var err error
		if b, err = AppendActions(b, bk.Actions); err != nil {
			return nil, err
		}
		n := len(b) - start
		if n > 0xffff {
			return nil, groupErr(GroupModFailedBadBucket, "bucket %d of %d bytes", i, n)
		}
		binary.BigEndian.PutUint16(b[start:], uint16(n))
	}
	return b, nil
}

// decodeBuckets decodes a list of ofp_bucket, the whole of b. The actions
// are copied out of b.
func decodeBuckets(b []byte) ([]flow.Bucket, error) {
	var buckets []flow.Bucket
	for len(b) > 0 {
		if len(b) < bucketLen {
			return nil, groupErr(GroupModFailedBadBucket, "buckets end with %d leftover bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if n < bucketLen || n > len(b) || n%8 != 0 {
			return nil, groupErr(GroupModFailedBadBucket, "bucket length %d of %d bytes", n, len(b))
		}
		acts, err := DecodeActions(b[bucketLen:n])
		if err != nil {
			return nil, err
		}
		buckets = append(buckets, flow.Bucket{
			Weight:     binary.BigEndian.Uint16(b[2:]),
			WatchPort:  binary.BigEndian.Uint32(b[4:]),
			WatchGroup: binary.BigEndian.Uint32(b[8:]),
			Actions:    acts,
		})
		b = b[n:]
	}
	return buckets, nil
}

// GroupStatsRequest is the body of an OFPMP_GROUP request.
type GroupStatsRequest struct {
	GroupID uint32 // GroupAll for every group
}

// Append appends r's wire form to b.
func (r *GroupStatsRequest) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, r.GroupID)
	return append(b, 0, 0, 0, 0)
}

// DecodeGroupStatsRequest decodes an OFPMP_GROUP request body.
func DecodeGroupStatsRequest(body []byte) (GroupStatsRequest, error) {
	if len(body) != 8 {
		return GroupStatsRequest{}, multipartErr("group stats request is %d bytes, want 8", len(body))
	}
	return GroupStatsRequest{GroupID: binary.BigEndian.Uint32(body)}, nil
}

// GroupStats is one entry of an OFPMP_GROUP reply (ofp_group_stats).
type GroupStats struct {
	GroupID                   uint32
	RefCount                  uint32
	PacketCount, ByteCount    uint64
	DurationSec, DurationNsec uint32
	Buckets                   []BucketCounter
}

// BucketCounter is one bucket's counters (ofp_bucket_counter).
type BucketCounter struct {
	PacketCount, ByteCount uint64
}

// AppendGroupStats appends the entries' wire form to b. It fails if an
// entry exceeds 65535 bytes (4093 buckets).
func AppendGroupStats(b []byte, stats []GroupStats) ([]byte, error) {
	for i := range stats {
		s := &stats[i]
		n := groupStatsLen + bucketCountLen*len(s.Buckets)
		if n > 0xffff {
			return nil, multipartErr("group %d stats of %d bytes", s.GroupID, n)
		}
		b = be16(b, uint16(n), 0)
		b = binary.BigEndian.AppendUint32(b, s.GroupID)
		b = binary.BigEndian.AppendUint32(b, s.RefCount)
		b = append(b, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint64(b, s.PacketCount)
		b = binary.BigEndian.AppendUint64(b, s.ByteCount)
		b = binary.BigEndian.AppendUint32(b, s.DurationSec)
		b = binary.BigEndian.AppendUint32(b, s.DurationNsec)
		for _, c := range s.Buckets {
			b = binary.BigEndian.AppendUint64(b, c.PacketCount)
			b = binary.BigEndian.AppendUint64(b, c.ByteCount)
		}
	}
	return b, nil
}

// DecodeGroupStats decodes an OFPMP_GROUP reply body, the whole of body.
func DecodeGroupStats(body []byte) ([]GroupStats, error) {
	var stats []GroupStats
	for len(body) > 0 {
		if len(body) < groupStatsLen {
			return nil, multipartErr("group stats entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < groupStatsLen || n > len(body) || (n-groupStatsLen)%bucketCountLen != 0 {
			return nil, multipartErr("group stats entry length %d of %d bytes", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		s := GroupStats{
			GroupID:      binary.BigEndian.Uint32(e[4:]),
			RefCount:     binary.BigEndian.Uint32(e[8:]),
			PacketCount:  binary.BigEndian.Uint64(e[16:]),
			ByteCount:    binary.BigEndian.Uint64(e[24:]),
			DurationSec:  binary.BigEndian.Uint32(e[32:]),
			DurationNsec: binary.BigEndian.Uint32(e[36:]),
		}
		for c := e[groupStatsLen:]; len(c) > 0; c = c[bucketCountLen:] {
			s.Buckets = append(s.Buckets, BucketCounter{
				PacketCount: binary.BigEndian.Uint64(c),
				ByteCount:   binary.BigEndian.Uint64(c[8:]),
			})
		}
		stats = append(stats, s)
	}
	return stats, nil
}

// AppendGroupDesc appends the ofp_group_desc form of groups (an
// OFPMP_GROUP_DESC reply body) to b. It fails if an action cannot be
// encoded or an entry exceeds 65535 bytes.
func AppendGroupDesc(b []byte, groups []flow.GroupSpec) ([]byte, error) {
	for i := range groups {
		g := &groups[i]
		start := len(b)
		b = append(b, 0, 0, uint8(g.Type), 0)
		b = binary.BigEndian.AppendUint32(b, g.ID)
		var err error
		if b, err = appendBuckets(b, g.Buckets); err != nil {
			return nil, err
		}
		n := len(b) - start
		if n > 0xffff {
			return nil, multipartErr("group %d description of %d bytes", g.ID, n)
		}
		binary.BigEndian.PutUint16(b[start:], uint16(n))
	}
	return b, nil
}

// DecodeGroupDesc decodes an OFPMP_GROUP_DESC reply body, the whole of
// body.
func DecodeGroupDesc(body []byte) ([]flow.GroupSpec, error) {
	var groups []flow.GroupSpec
	for len(body) > 0 {
		if len(body) < groupDescLen {
			return nil, multipartErr("group description of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < groupDescLen || n > len(body) {
			return nil, multipartErr("group description length %d of %d bytes", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		g := flow.GroupSpec{Type: flow.GroupType(e[2]), ID: binary.BigEndian.Uint32(e[4:])}
		if g.Type > flow.GroupFastFailover {
			return nil, groupErr(GroupModFailedBadType, "group type %d", g.Type)
		}
		var err error
		if g.Buckets, err = decodeBuckets(e[groupDescLen:]); err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// Group capabilities (ofp_group_capabilities).
const (
	GroupCapSelectWeight   uint32 = 1 << 0
	GroupCapSelectLiveness uint32 = 1 << 1
	GroupCapChaining       uint32 = 1 << 2
	GroupCapChainingChecks uint32 = 1 << 3
)

// GroupFeatures is the body of an OFPMP_GROUP_FEATURES reply. Types has bit
// t set for each supported group type t; MaxGroups and Actions are indexed
// by group type, Actions with bit a set for each supported action type a.
type GroupFeatures struct {
	Types        uint32
	Capabilities uint32
	MaxGroups    [4]uint32
	Actions      [4]uint32
}

// OurGroupFeatures is what dvs's group table supports: every type, weights,
// liveness and checked chaining, the OpenFlow 1.3 actions translation
// implements (set_queue is accepted and ignored).
func OurGroupFeatures() GroupFeatures {
	acts := uint32(1<<actOutput | 1<<actSetQueue | 1<<actGroup | 1<<actSetNwTTL | 1<<actDecNwTTL |
		1<<actPushVLAN | 1<<actPopVLAN | 1<<actSetField | 1<<actPushMPLS | 1<<actPopMPLS | 1<<actSetMPLSTTL | 1<<actDecMPLSTTL)
	f := GroupFeatures{
		Types:        1<<flow.GroupAll | 1<<flow.GroupSelect | 1<<flow.GroupIndirect | 1<<flow.GroupFastFailover,
		Capabilities: GroupCapSelectWeight | GroupCapSelectLiveness | GroupCapChaining | GroupCapChainingChecks,
	}
	for i := range f.MaxGroups {
		f.MaxGroups[i] = flow.GroupMax
		f.Actions[i] = acts
	}
	return f
}

// Append appends f's wire form to b.
func (f *GroupFeatures) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, f.Types)
	b = binary.BigEndian.AppendUint32(b, f.Capabilities)
	for _, v := range f.MaxGroups {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, v := range f.Actions {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// DecodeGroupFeatures decodes an OFPMP_GROUP_FEATURES reply body.
func DecodeGroupFeatures(body []byte) (GroupFeatures, error) {
	if len(body) != groupFeatureLen {
		return GroupFeatures{}, multipartErr("group features body is %d bytes, want %d", len(body), groupFeatureLen)
	}
	f := GroupFeatures{
		Types:        binary.BigEndian.Uint32(body),
		Capabilities: binary.BigEndian.Uint32(body[4:]),
	}
	for i := range f.MaxGroups {
		f.MaxGroups[i] = binary.BigEndian.Uint32(body[8+4*i:])
		f.Actions[i] = binary.BigEndian.Uint32(body[24+4*i:])
	}
	return f, nil
}
