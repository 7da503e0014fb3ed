//go:build linux

package servers

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group (so Stop can signal
// everything it spawned) and has the kernel SIGKILL it if we die, so a
// crashed test or demo never leaves servers holding ports.
//
// Pdeathsig fires when the forking OS thread exits, not the process; the Go
// runtime does not retire threads unless a goroutine exits while locked to
// one, which nothing here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends SIGTERM (or SIGKILL) to the child's process group.
func signalGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	// Negative pid addresses the group; the child is its leader via Setpgid.
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
