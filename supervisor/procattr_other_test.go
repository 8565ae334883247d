//go:build !linux

package supervisor

import "syscall"

// testProcAttr puts a process the tests start in a group of its own; only
// Linux can end it with the test binary.
func testProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
