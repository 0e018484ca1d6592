package ofswitch

import (
	"bytes"
	"net"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// portMod applies a port-mod: administrative state, no-recv, no-fwd and
// no-packet-in (advertised features are not configurable and are ignored).
func (s *Switch) portMod(msg []byte) error {
	pm, err := openflow.DecodePortMod(msg)
	if err != nil {
		return err
	}
	addr, found := "", false
	for _, p := range s.b.Ports() {
		if p.OFPort == pm.PortNo {
			addr, found = p.MAC, true
		}
	}
	if !found {
		return openflow.PortModErr(openflow.PortModFailedBadPort, "no port %d", pm.PortNo)
	}
	if mac, err := net.ParseMAC(addr); err == nil && !bytes.Equal(mac, pm.HWAddr[:]) {
		return openflow.PortModErr(openflow.PortModFailedBadHWAddr, "port %d has address %s", pm.PortNo, mac)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.b.SetPortConfig(pm.PortNo, pipeline.PortConfig(pm.Config), pipeline.PortConfig(pm.Mask)); err != nil {
		return openflow.PortModErr(openflow.PortModFailedBadConfig, "%v", err)
	}
	return nil
}

// tableMod accepts a table-mod: OpenFlow 1.3 defines no table settings.
func (s *Switch) tableMod(msg []byte) error {
	tm, err := openflow.DecodeTableMod(msg)
	if err != nil {
		return err
	}
	if tm.TableID >= flow.MaxTables && tm.TableID != flow.TableAll {
		return openflow.TableModErr(openflow.TableModFailedBadTable, "bad table id %d", tm.TableID)
	}
	if tm.Config&^3 != 0 {
		return openflow.TableModErr(openflow.TableModFailedBadConfig, "table config %#x", tm.Config)
	}
	return nil
}

// queueGetConfig answers that ports have no queues.
func (s *Switch) queueGetConfig(xid uint32, msg []byte) ([][]byte, error) {
	q, err := openflow.DecodeQueueGetConfigRequest(msg)
	if err != nil {
		return nil, err
	}
	if q.Port != flow.PortAny && (q.Port == 0 || q.Port > flow.PortMax || !s.portExists(q.Port)) {
		return nil, &openflow.Error{Type: openflow.ETQueueOpFailed, Code: openflow.QueueOpFailedBadPort, Msg: "no such port"}
	}
	r := openflow.QueueGetConfigReply{Port: q.Port}
	return [][]byte{r.Encode(xid)}, nil
}
