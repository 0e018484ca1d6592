package channel

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the IANA OpenFlow port, used when a target names none.
const DefaultPort = 6653

// target is a parsed connection target in Open vSwitch syntax.
type target struct {
	name    string // normalised, e.g. "tcp:127.0.0.1:6653"; the identity Update compares
	passive bool
	tls     bool
	network string // "tcp" or "unix"
	addr    string // host:port or path
}

// parseActive parses "tcp:HOST[:PORT]" or "ssl:HOST[:PORT]".
func parseActive(s string) (target, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "ssl") {
		return target{}, fmt.Errorf("want tcp:HOST[:PORT] or ssl:HOST[:PORT]")
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return target{}, err
	}
	if host == "" {
		return target{}, fmt.Errorf("missing host")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return target{name: proto + ":" + addr, tls: proto == "ssl", network: "tcp", addr: addr}, nil
}

// splitHostPort splits "HOST[:PORT]", where an IPv6 HOST is in brackets.
func splitHostPort(s string) (string, int, error) {
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("missing ']' in %q", s)
		}
		host, portStr = s[1:end], s[end+1:]
		if portStr != "" && !strings.HasPrefix(portStr, ":") {
			return "", 0, fmt.Errorf("junk %q after ']'", portStr)
		}
		portStr = strings.TrimPrefix(portStr, ":")
	} else if h, p, ok := strings.Cut(s, ":"); ok {
		host, portStr = h, p
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("bad host %q", host)
	}
	port := DefaultPort
	if portStr != "" {
		p, err := parsePort(portStr)
		if err != nil {
			return "", 0, err
		}
		port = p
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return int(p), nil
}

// parsePassive parses "ptcp:[PORT][:IP]", "pssl:[PORT][:IP]" or
// "punix:PATH". The IP defaults to 127.0.0.1 and the port to 6653; port 0
// picks a free port.
func parsePassive(s string) (target, error) {
	proto, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok && (proto == "ptcp" || proto == "pssl"):
	case !ok:
		return target{}, fmt.Errorf("want ptcp:PORT[:IP], pssl:PORT[:IP] or punix:PATH")
	case proto == "punix":
		if rest == "" {
			return target{}, fmt.Errorf("missing path")
		}
		return target{name: "punix:" + rest, passive: true, network: "unix", addr: rest}, nil
	case proto != "ptcp" && proto != "pssl":
		return target{}, fmt.Errorf("want ptcp:PORT[:IP], pssl:PORT[:IP] or punix:PATH")
	}
	portStr, ip, _ := strings.Cut(rest, ":")
	port := DefaultPort
	if portStr != "" {
		p, err := parsePort(portStr)
		if err != nil {
			return target{}, err
		}
		port = p
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip == "" {
		ip = "127.0.0.1"
	}
	if net.ParseIP(ip) == nil {
		return target{}, fmt.Errorf("bad IP address %q", ip)
	}
	name := proto + ":" + strconv.Itoa(port) + ":" + ip
	if strings.Contains(ip, ":") {
		name = proto + ":" + strconv.Itoa(port) + ":[" + ip + "]"
	}
	return target{name: name, passive: true, tls: proto == "pssl", network: "tcp",
		addr: net.JoinHostPort(ip, strconv.Itoa(port))}, nil
}
