package mqttclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

type pki struct {
	dir string
	t   *testing.T
}

// issue writes a key and a certificate (signed by parent, or self-signed
// when parent is nil) and returns their paths.
func (p pki) issue(name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time, dns ...string) (cert *x509.Certificate, key *ecdsa.PrivateKey, certPath, keyPath string) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
		DNSNames: dns, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		p.t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	certPath, keyPath = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return cert, key, certPath, keyPath
}

func connect(t *testing.T, broker string, tlsCfg TLS) error {
	t.Helper()
	opts, err := Options(broker, "tls-test-"+strings.ReplaceAll(t.Name(), "/", "-"), tlsCfg, Auth{})
	if err != nil {
		return err
	}
	c := mqtt.NewClient(opts.SetConnectTimeout(5 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect did not finish")
	}
	if tok.Error() == nil {
		c.Disconnect(50)
	}
	return tok.Error()
}

// MQTT over TLS against a real Mosquitto TLS listener that requires client
// certificates: the right CA and certificate connect; a wrong CA, an expired
// client or server certificate and a wrong server name are refused with an
// error that says so.
func TestTLS(t *testing.T) {
	p := pki{dir: t.TempDir(), t: t}
	year := time.Now().Add(365 * 24 * time.Hour)
	ca, caKey, caPath, _ := p.issue("park-ca", true, nil, nil, year)
	_, _, srvCert, srvKey := p.issue("broker", false, ca, caKey, year, "broker.park.test")
	_, _, cliCert, cliKey := p.issue("gw-01", false, ca, caKey, year)
	_, _, oldCert, oldKey := p.issue("gw-old", false, ca, caKey, time.Now().Add(-24*time.Hour))
	_, _, otherCA, _ := p.issue("other-ca", true, nil, nil, year)
	_, _, expSrvCert, expSrvKey := p.issue("broker-expired", false, ca, caKey, time.Now().Add(-time.Hour))

	start := func(cert, key string) *servers.Mosquitto {
		return testenv.Mosquitto(t, servers.MosquittoTLS(caPath, cert, key, true))
	}
	broker := start(srvCert, srvKey)

	good := TLS{CAFile: caPath, CertFile: cliCert, KeyFile: cliKey}
	if err := connect(t, broker.TLSURL, good); err != nil {
		t.Fatalf("good certificates refused: %v", err)
	}
	named := good
	named.ServerName = "broker.park.test"
	if err := connect(t, broker.TLSURL, named); err != nil {
		t.Fatalf("server name in the certificate refused: %v", err)
	}
	cases := []struct {
		name, want string
		broker     string
		cfg        TLS
		clientSide bool // the broker refuses the client's certificate
	}{
		{"wrong CA", "unknown authority", broker.TLSURL, TLS{CAFile: otherCA, CertFile: cliCert, KeyFile: cliKey}, false},
		{"wrong server name", "not other.park.test", broker.TLSURL, TLS{CAFile: caPath, CertFile: cliCert, KeyFile: cliKey, ServerName: "other.park.test"}, false},
		{"expired client certificate", "expired certificate", broker.TLSURL, TLS{CAFile: caPath, CertFile: oldCert, KeyFile: oldKey}, true},
		{"no client certificate", "certificate required", broker.TLSURL, TLS{CAFile: caPath}, true},
		{"expired server certificate", "expired", start(expSrvCert, expSrvKey).TLSURL, good, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := connect(t, c.broker, c.cfg)
			if err == nil {
				t.Fatal("connected")
			}
			// With TLS 1.3 the client's handshake is done before the broker
			// checks its certificate, so the broker's refusal may arrive as
			// its alert or as a reset of the connection.
			if !strings.Contains(err.Error(), c.want) && !(c.clientSide && strings.Contains(err.Error(), "reset by peer")) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestValidate(t *testing.T) {
	for name, c := range map[string]struct {
		broker string
		tls    TLS
		auth   Auth
	}{
		"no scheme":         {"127.0.0.1:1883", TLS{}, Auth{}},
		"tls on tcp":        {"tcp://h:1", TLS{CAFile: "x"}, Auth{}},
		"cert without key":  {"ssl://h:1", TLS{CertFile: "x"}, Auth{}},
		"password and file": {"tcp://h:1", TLS{}, Auth{Password: "a", PasswordFile: "b"}},
		"insecure on tcp":   {"tcp://h:1", TLS{InsecureSkipVerify: true}, Auth{}},
	} {
		if err := Validate(c.broker, c.tls, c.auth); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	pf := filepath.Join(dir, "pw")
	os.WriteFile(pf, []byte("s3cret\n"), 0o600)
	if pw, err := (Auth{PasswordFile: pf}).Secret(); err != nil || pw != "s3cret" {
		t.Fatalf("%q %v", pw, err)
	}
}
