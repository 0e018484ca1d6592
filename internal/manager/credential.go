package manager

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"github.com/dvs-project/dvs/internal/resource"
)

// Who may call the API. The join token (or no token on a loopback
// listener) is the administrator's: it serves every path, and an agent
// presenting it joins (gets a host token). A host token serves only its
// own host's agent endpoints (register, watch, ack, heartbeat), so an
// agent that has joined no longer needs the join token, and cannot act
// for another host or change the configuration.

// HostTokenHeader carries a new host token in the answer to a register
// made with the join token.
const HostTokenHeader = "Dvs-Host-Token"

// randomToken returns 32 random bytes in hex.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// credentialOf is what the manager stores of a host token.
func credentialOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sameCredential reports whether an update leaves a host's credential as
// it is (a host without one in the update keeps the old one).
func sameCredential(old, n resource.Object) bool {
	nh, ok := n.(*resource.Host)
	if !ok || nh.Credential == "" {
		return true
	}
	oh := old.(*resource.Host)
	return oh.Credential == nh.Credential
}

// carryCredential keeps old's credential in n when n brings none.
func carryCredential(old, n resource.Object) {
	nh, ok := n.(*resource.Host)
	if !ok || nh.Credential != "" || old == nil {
		return
	}
	nh.Credential = old.(*resource.Host).Credential
}

// hostOfToken returns the host whose token tok is, or "".
func (m *Manager) hostOfToken(tok string) string {
	c := credentialOf(tok)
	m.mu.RLock()
	defer m.mu.RUnlock()
	for name, h := range m.cur.hosts {
		if h.Credential == c {
			return name
		}
	}
	return ""
}

// caller is who made a request: the administrator or one host's agent.
type caller struct {
	host string // "" for the administrator
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}
