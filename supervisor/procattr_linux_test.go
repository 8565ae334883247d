package supervisor

import "syscall"

// testProcAttr puts a process the tests start in a group of its own, which
// a test can end as a whole (as a container's end does), and ends it with
// the test binary, even one killed.
func testProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
