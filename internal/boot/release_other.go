//go:build !linux

package boot

// ReleaseStartupPages does nothing where the module's binary does not run
// as a supervisor: the services' containers are Linux.
func ReleaseStartupPages() {}
