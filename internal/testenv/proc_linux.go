package testenv

import "syscall"

// sysProcAttr makes a child die with the process that started it (a test),
// or, detached, start its own session so it outlives the starter (the lab).
func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
