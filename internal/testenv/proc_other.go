//go:build !linux

package testenv

import "syscall"

// sysProcAttr sets nothing outside Linux: children are stopped by
// ControlPlane.Stop only, and the lab is supported on Linux only.
func sysProcAttr(detached bool) *syscall.SysProcAttr { return nil }
