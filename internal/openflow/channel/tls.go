package channel

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsFiles are the PEM files for ssl: and pssl: targets. They are read
// again for each connection, so that replaced certificates take effect
// without a restart.
type tlsFiles struct {
	key, cert, ca string
}

// loadTLS checks that the files exist and parse.
func loadTLS(key, cert, ca string) (*tlsFiles, error) {
	if key == "" || cert == "" || ca == "" {
		return nil, errors.New("ssl and pssl targets need PrivateKey, Certificate and CACert")
	}
	f := &tlsFiles{key: key, cert: cert, ca: ca}
	if _, _, err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *tlsFiles) load() (tls.Certificate, *x509.CertPool, error) {
	kp, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("loading certificate %s and key %s: %w", f.cert, f.key, err)
	}
	pem, err := os.ReadFile(f.ca)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("loading CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("loading CA certificate: no certificate in %s", f.ca)
	}
	return kp, pool, nil
}

// clientConfig verifies the controller's certificate against the CA but,
// like Open vSwitch, not its name: controllers are addressed by IP and
// their certificates rarely name it.
func (f *tlsFiles) clientConfig() (*tls.Config, error) {
	kp, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{kp},
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by verifyChain
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs, pool)
		},
	}, nil
}

func (f *tlsFiles) serverConfig() (*tls.Config, error) {
	kp, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{kp},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAnyClientCert, // verified by verifyChain
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs, pool)
		},
	}, nil
}

// verifyChain checks that the peer's certificate chains to roots, for any
// purpose and any name, as Open vSwitch's SSL does.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}
