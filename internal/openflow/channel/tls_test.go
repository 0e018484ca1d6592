package channel

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a self-signed CA and certificates it signed, as PEM files.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	serial int64
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	p.caFile = p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns the certificate and key files of a new leaf certificate,
// which names no host (as controllers' often do not).
func (p *testPKI) issue(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+"-cert.pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", kder)
}

func (p *testPKI) tlsConfig(t *testing.T, name string) *tls.Config {
	cert, key := p.issue(t, name)
	f := &tlsFiles{key: key, cert: cert, ca: p.caFile}
	kp, pool, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, ServerName: "switch", InsecureSkipVerify: true}
}

func TestSSL(t *testing.T) {
	checkGoroutines(t)
	pki := newPKI(t, "test")
	cert, key := pki.issue(t, "switch")

	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.tlsConfig(t, "controller"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctl := &controller{t: t, ln: ln}
	ch := newChannel(t, Config{
		Controllers: []string{"ssl:" + ln.Addr().String()},
		Listen:      []string{"pssl:0"},
		PrivateKey:  key, Certificate: cert, CACert: pki.caFile,
		MaxBackoff: 50 * time.Millisecond,
	}, nil)

	t.Run("active", func(t *testing.T) {
		p := ctl.accept()
		p.echo(1)
		nc := p.nc
		if cs := nc.(*tls.Conn).ConnectionState(); len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != "switch" {
			t.Errorf("switch presented %+v", cs.PeerCertificates)
		}
	})

	addr := listenAddr(t, ch, KindService)
	t.Run("passive", func(t *testing.T) {
		conf := pki.tlsConfig(t, "client")
		// The switch's certificate names no host: check the chain only.
		conf.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, conf.RootCAs) }
		nc, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatal(err)
		}
		p := newPeer(t, nc)
		p.hello()
		p.echo(2)
	})

	t.Run("passive, certificate from another CA", func(t *testing.T) {
		other := newPKI(t, "other")
		conf := other.tlsConfig(t, "intruder")
		nc, err := tls.Dial("tcp", addr, conf)
		if err == nil {
			// TLS 1.3 reports the client certificate's rejection on the
			// first read.
			p := newPeer(t, nc)
			p.expectClosed()
		}
	})

	t.Run("passive, no certificate", func(t *testing.T) {
		nc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			p := newPeer(t, nc)
			p.expectClosed()
		}
	})

	t.Run("active, controller from another CA", func(t *testing.T) {
		other := newPKI(t, "other")
		ln2, err := tls.Listen("tcp", "127.0.0.1:0", other.tlsConfig(t, "controller"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln2.Close()
		// Serve handshakes, which fail on the switch's side.
		go func() {
			for {
				c, err := ln2.Accept()
				if err != nil {
					return
				}
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		if err := ch.Update(Config{Controllers: []string{"ssl:" + ln2.Addr().String()},
			PrivateKey: key, Certificate: cert, CACert: pki.caFile, MaxBackoff: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a TLS failure", func() bool {
			i := ch.Connections()
			return len(i) == 1 && i[0].State != StateConnected && i[0].LastError != ""
		})
		if i := ch.Connections(); len(i) != 1 || i[0].State == StateConnected {
			t.Errorf("connected to a controller of another CA: %+v", i)
		}
	})
}
