package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DialTimeout bounds connecting to the agent's socket.
const DialTimeout = 3 * time.Second

// Client talks to one agent. Its methods are safe for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the agent listening on socket.
func NewClient(socket string) *Client {
	d := net.Dialer{Timeout: DialTimeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// Socket returns the socket the client talks to.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// do sends in (if not nil) as JSON and decodes the response into out (if
// not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	// The host part is ignored: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://dvs"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return &UnreachableError{Socket: c.socket, Err: err}
		}
		return fmt.Errorf("talking to the dvs agent at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("agent answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the agent's answer: %w", err)
	}
	return nil
}

func brPath(br string, rest ...string) string {
	p := "/v1/bridges/" + url.PathEscape(br)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Version returns the agent's version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
}

// Bridges lists the bridges.
func (c *Client) Bridges(ctx context.Context) ([]Bridge, error) {
	var out []Bridge
	return out, c.do(ctx, http.MethodGet, "/v1/bridges", nil, &out)
}

// Bridge describes one bridge.
func (c *Client) Bridge(ctx context.Context, name string) (BridgeDetail, error) {
	var out BridgeDetail
	return out, c.do(ctx, http.MethodGet, brPath(name), nil, &out)
}

// AddBridge creates a bridge.
func (c *Client) AddBridge(ctx context.Context, spec BridgeSpec) (Bridge, error) {
	var out Bridge
	return out, c.do(ctx, http.MethodPost, "/v1/bridges", spec, &out)
}

// SetBridge changes a bridge's OpenFlow settings.
func (c *Client) SetBridge(ctx context.Context, name string, patch BridgePatch) (Bridge, error) {
	var out Bridge
	return out, c.do(ctx, http.MethodPatch, brPath(name), patch, &out)
}

// OpenFlow returns a bridge's OpenFlow state.
func (c *Client) OpenFlow(ctx context.Context, name string) (OpenFlowInfo, error) {
	var out OpenFlowInfo
	return out, c.do(ctx, http.MethodGet, brPath(name, "openflow"), nil, &out)
}

// DelBridge deletes a bridge and its ports.
func (c *Client) DelBridge(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, brPath(name), nil, nil)
}

// Ports lists a bridge's ports.
func (c *Client) Ports(ctx context.Context, br string) ([]Port, error) {
	var out []Port
	return out, c.do(ctx, http.MethodGet, brPath(br, "ports"), nil, &out)
}

// Port describes one port.
func (c *Client) Port(ctx context.Context, br, name string) (Port, error) {
	var out Port
	return out, c.do(ctx, http.MethodGet, brPath(br, "ports", name), nil, &out)
}

// AddPort adds a port.
func (c *Client) AddPort(ctx context.Context, br string, spec PortSpec) (Port, error) {
	var out Port
	return out, c.do(ctx, http.MethodPost, brPath(br, "ports"), spec, &out)
}

// SetPort changes a port.
func (c *Client) SetPort(ctx context.Context, br, name string, patch PortPatch) (Port, error) {
	var out Port
	return out, c.do(ctx, http.MethodPatch, brPath(br, "ports", name), patch, &out)
}

// DelPort deletes a port.
func (c *Client) DelPort(ctx context.Context, br, name string) error {
	return c.do(ctx, http.MethodDelete, brPath(br, "ports", name), nil, nil)
}

// AddFlows adds flows, all or none.
func (c *Client) AddFlows(ctx context.Context, br string, lines []string) (int, error) {
	var out Count
	return out.Count, c.do(ctx, http.MethodPost, brPath(br, "flows"), FlowLines{Lines: lines}, &out)
}

// ModFlows changes the actions of the flows sel selects.
func (c *Client) ModFlows(ctx context.Context, br string, sel FlowSelect) (int, error) {
	var out Count
	return out.Count, c.do(ctx, http.MethodPost, brPath(br, "flows", "mod"), sel, &out)
}

// DelFlows deletes the flows sel selects.
func (c *Client) DelFlows(ctx context.Context, br string, sel FlowSelect) (int, error) {
	var out Count
	return out.Count, c.do(ctx, http.MethodPost, brPath(br, "flows", "del"), sel, &out)
}

// DumpFlows returns the flows filter selects (all for "").
func (c *Client) DumpFlows(ctx context.Context, br, filter string, stats bool) ([]string, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if stats {
		q.Set("stats", "1")
	}
	p := brPath(br, "flows")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out Flows
	return out.Flows, c.do(ctx, http.MethodGet, p, nil, &out)
}

// MACs returns the learned MACs in vlan (0 = all).
func (c *Client) MACs(ctx context.Context, br string, vlan int) ([]MAC, error) {
	p := brPath(br, "macs")
	if vlan != 0 {
		p += "?vlan=" + strconv.Itoa(vlan)
	}
	var out []MAC
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// FlushMACs forgets the learned MACs and returns how many.
func (c *Client) FlushMACs(ctx context.Context, br string) (int, error) {
	var out Count
	return out.Count, c.do(ctx, http.MethodPost, brPath(br, "macs", "flush"), nil, &out)
}

// Trace traces a described packet.
func (c *Client) Trace(ctx context.Context, br, packet string) (Trace, error) {
	var out Trace
	return out, c.do(ctx, http.MethodPost, brPath(br, "trace"), TraceRequest{Packet: packet}, &out)
}

// Stats returns a bridge's counters.
func (c *Client) Stats(ctx context.Context, br string) (Stats, error) {
	var out Stats
	return out, c.do(ctx, http.MethodGet, brPath(br, "stats"), nil, &out)
}
