package servers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

const modulePath = "github.com/parkcarbon/parkcarbon"

// Option tunes a Start call.
type Option func(*options)

type options struct {
	port int
	tls  *tlsListener
	auth *brokerAuth
}

type tlsListener struct {
	ca, cert, key string
	requireCert   bool
}

type brokerAuth struct{ passwordFile, aclFile string }

// MosquittoTLS adds a TLS listener (Mosquitto.TLSURL) with the given PEM
// files; requireCert makes it demand a client certificate signed by ca.
func MosquittoTLS(ca, cert, key string, requireCert bool) Option {
	return func(o *options) { o.tls = &tlsListener{ca, cert, key, requireCert} }
}

// MosquittoAuth turns anonymous access off and uses a password file
// (mosquitto_passwd format) and an ACL file for every listener.
func MosquittoAuth(passwordFile, aclFile string) Option {
	return func(o *options) { o.auth = &brokerAuth{passwordFile, aclFile} }
}

// PreferPort asks for a fixed listen port (e.g. 1883 or 8086 for the demo).
// If that port is busy a free one is used instead; check the returned URL.
func PreferPort(port int) Option {
	return func(o *options) { o.port = port }
}

func applyOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

var (
	portsMu sync.Mutex
	// handedOut stops two servers in one process (parallel tests) from
	// being given the same port by the kernel in quick succession.
	handedOut = map[int]bool{}
)

// pickPort returns preferred if it can be bound right now, else a free port.
func pickPort(preferred int) (int, error) {
	if preferred > 0 {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", preferred)); err == nil {
			_ = l.Close()
			return preferred, nil
		}
	}
	return freePort()
}

// freePort asks the kernel for an unused loopback port. There is a window
// between closing the probe listener and the server binding it; the start
// functions retry on "address already in use".
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("find free port: kernel kept returning ports already in use by this process")
}

// findMosquitto locates the mosquitto binary: $PARKCARBON_MOSQUITTO, PATH,
// then /usr/sbin (Debian installs it there, often not on a user's PATH).
func findMosquitto() (string, error) {
	const hint = "run 'make deps' (apt-get update && apt-get install -y mosquitto)"
	if p := os.Getenv("PARKCARBON_MOSQUITTO"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", notInstalled("mosquitto not found at PARKCARBON_MOSQUITTO=%s: %s", p, hint)
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if p := "/usr/sbin/mosquitto"; isExecutable(p) {
		return p, nil
	}
	return "", notInstalled("mosquitto not found: %s", hint)
}

// findInfluxd locates influxd 1.8: $PARKCARBON_INFLUXD, the repo's
// .tools/bin (where 'make deps' builds it), then PATH.
func findInfluxd() (string, error) {
	const hint = "run 'make deps' (GOBIN=$(pwd)/.tools/bin go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)"
	if p := os.Getenv("PARKCARBON_INFLUXD"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", notInstalled("influxd not found at PARKCARBON_INFLUXD=%s: %s", p, hint)
	}
	if root, err := RepoRoot(); err == nil {
		if p := filepath.Join(root, ".tools", "bin", "influxd"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	return "", notInstalled("influxd not found: %s", hint)
}

// notInstalledError keeps the message exactly the install hint while still
// matching ErrNotInstalled with errors.Is.
type notInstalledError struct{ msg string }

func (e *notInstalledError) Error() string        { return e.msg }
func (e *notInstalledError) Is(target error) bool { return target == ErrNotInstalled }

func notInstalled(format string, args ...any) error {
	return &notInstalledError{msg: fmt.Sprintf(format, args...)}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// RepoRoot returns the nearest directory at or above the working directory
// whose go.mod declares this module. Tests run from their package directory,
// so walking up is what finds .tools/bin.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for dir := wd; ; {
		if moduleOf(filepath.Join(dir, "go.mod")) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repo root: no go.mod for module %s at or above %s", modulePath, wd)
		}
		dir = parent
	}
}

// moduleOf returns the module path declared in a go.mod, or "" if unreadable.
func moduleOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`)
		}
	}
	return ""
}
