//go:build !linux

package servers

import (
	"os"
	"syscall"
)

// sysProcAttr is a no-op off Linux: there is no Pdeathsig, and the servers
// don't fork, so signalling the child alone is enough.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup asks the child to exit (or kills it).
func signalGroup(p *os.Process, kill bool) {
	if kill {
		_ = p.Kill()
		return
	}
	if err := p.Signal(os.Interrupt); err != nil {
		_ = p.Kill()
	}
}
