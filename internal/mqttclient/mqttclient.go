// Package mqttclient builds paho client options from the broker settings
// that edge.yaml and collector.yaml share: the URL, credentials (inline, from
// a file or the environment) and TLS (system or custom CA, client
// certificates, server-name verification).
package mqttclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TLS configures an ssl:// connection.
type TLS struct {
	CAFile     string `yaml:"ca_file"`     // PEM; default: the system's roots
	CertFile   string `yaml:"cert_file"`   // client certificate (PEM), with key_file
	KeyFile    string `yaml:"key_file"`    //
	ServerName string `yaml:"server_name"` // default: the broker's host
	// InsecureSkipVerify turns certificate verification off. For a lab only:
	// anyone on the path can then read and forge the park's data.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Auth is a client's credentials. The password comes from password, or
// better from password_file (a file holding only it), never from logs.
type Auth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Secret returns the password, reading password_file if set.
func (a Auth) Secret() (string, error) {
	if a.PasswordFile == "" {
		return a.Password, nil
	}
	if a.Password != "" {
		return "", errors.New("password and password_file exclude each other")
	}
	return ReadSecretFile(a.PasswordFile)
}

// ReadSecretFile reads a secret from a file, without its trailing newline.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Validate checks the broker URL and the TLS settings against it.
func Validate(broker string, t TLS, a Auth) error {
	u, err := url.Parse(broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") || u.Host == "" {
		return fmt.Errorf("broker %q: want tcp://host:port or ssl://host:port", broker)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	if u.Scheme == "tcp" && (t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify) {
		return fmt.Errorf("broker %q: tls settings need an ssl:// broker", broker)
	}
	if a.Password != "" && a.PasswordFile != "" {
		return errors.New("password and password_file exclude each other")
	}
	return nil
}

// Options returns paho options for the broker with credentials and TLS set.
// Files are read now, so that a missing certificate fails at start.
func Options(broker, clientID string, t TLS, a Auth) (*mqtt.ClientOptions, error) {
	if err := Validate(broker, t, a); err != nil {
		return nil, err
	}
	pw, err := a.Secret()
	if err != nil {
		return nil, err
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(a.Username).SetPassword(pw)
	if strings.HasPrefix(broker, "ssl://") {
		cfg, err := t.Config(broker)
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(cfg)
	}
	return opts, nil
}

// Config builds the tls.Config for broker.
func (t TLS) Config(broker string) (*tls.Config, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return nil, fmt.Errorf("broker %q: %w", broker, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), InsecureSkipVerify: t.InsecureSkipVerify}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Connect connects c, retrying with backoff until it succeeds or ctx is done,
// and logs why each failed attempt failed (a wrong CA, an expired
// certificate, a refused password): paho's own connect-retry is silent.
// Once connected, paho's auto-reconnect takes over.
func Connect(ctx context.Context, c mqtt.Client, log *slog.Logger) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		err := tok.Error()
		if err == nil {
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Error("cannot connect to the broker; retrying", "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}
