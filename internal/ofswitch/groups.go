package ofswitch

import (
	"errors"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// groupMod applies a group_mod.
func (s *Switch) groupMod(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groupModLocked(msg)
}

func (s *Switch) groupModLocked(msg []byte) error {
	gm, err := openflow.DecodeGroupMod(msg)
	if err != nil {
		return err
	}
	p := s.b.Pipeline()
	switch gm.Command {
	case openflow.GroupAdd:
		err = p.AddGroup(gm.Group)
	case openflow.GroupModify:
		err = p.ModifyGroup(gm.Group)
	case openflow.GroupDelete:
		s.b.PushStats()
		var removed []*flow.Rule
		removed, err = p.DeleteGroup(gm.Group.ID)
		s.flowsRemoved(removed, openflow.FlowRemovedGroupDelete)
	}
	return groupError(err)
}

// groupError maps a pipeline group error to OFPET_GROUP_MOD_FAILED (or,
// for a bucket's bad action, OFPET_BAD_ACTION).
func groupError(err error) error {
	if err == nil {
		return nil
	}
	code := func(c uint16) error {
		return &openflow.Error{Type: openflow.ETGroupModFailed, Code: c, Msg: err.Error()}
	}
	switch {
	case errors.Is(err, pipeline.ErrGroupExists):
		return code(openflow.GroupModFailedGroupExists)
	case errors.Is(err, pipeline.ErrBadOutGroup):
		return ofError(err)
	case errors.Is(err, pipeline.ErrUnknownGroup):
		return code(openflow.GroupModFailedUnknownGroup)
	case errors.Is(err, pipeline.ErrBadGroup):
		return code(openflow.GroupModFailedInvalidGroup)
	case errors.Is(err, pipeline.ErrGroupLoop):
		return code(openflow.GroupModFailedLoop)
	case errors.Is(err, pipeline.ErrChainedGroup):
		return code(openflow.GroupModFailedChainedGroup)
	case errors.Is(err, pipeline.ErrBadGroupType):
		return code(openflow.GroupModFailedBadType)
	case errors.Is(err, pipeline.ErrBadWatch):
		return code(openflow.GroupModFailedBadWatch)
	case errors.Is(err, pipeline.ErrWatchUnsupported):
		return code(openflow.GroupModFailedWatchUnsupported)
	case errors.Is(err, pipeline.ErrBadBucket):
		return code(openflow.GroupModFailedBadBucket)
	case errors.Is(err, pipeline.ErrBadAction):
		return ofError(err)
	}
	return code(openflow.GroupModFailedEPerm)
}

// groupMultipart answers group stats, group desc and group features.
func (s *Switch) groupMultipart(xid uint32, req openflow.Multipart) ([][]byte, error) {
	var entries [][]byte
	switch req.Type {
	case openflow.MultipartGroup:
		r, err := openflow.DecodeGroupStatsRequest(req.Body)
		if err != nil {
			return nil, err
		}
		s.b.PushStats()
		for _, g := range s.b.Pipeline().Groups() {
			if r.GroupID != openflow.GroupAll && r.GroupID != g.ID {
				continue
			}
			gs := openflow.GroupStats{GroupID: g.ID, RefCount: g.RefCount, PacketCount: g.Packets, ByteCount: g.Bytes,
				DurationSec: uint32(g.Duration / time.Second), DurationNsec: uint32(g.Duration % time.Second)}
			for _, b := range g.BucketStats {
				gs.Buckets = append(gs.Buckets, openflow.BucketCounter{PacketCount: b.Packets, ByteCount: b.Bytes})
			}
			b, err := openflow.AppendGroupStats(nil, []openflow.GroupStats{gs})
			if err != nil {
				return nil, err
			}
			entries = append(entries, b)
		}
	case openflow.MultipartGroupDesc:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		for _, g := range s.b.Pipeline().Groups() {
			b, err := openflow.AppendGroupDesc(nil, []flow.GroupSpec{g.GroupSpec})
			if err != nil {
				return nil, err
			}
			entries = append(entries, b)
		}
	case openflow.MultipartGroupFeatures:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		f := openflow.OurGroupFeatures()
		entries = append(entries, f.Append(nil))
	}
	return openflow.SplitMultipartReply(xid, req.Type, entries)
}
