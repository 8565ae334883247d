//go:build !linux

package supervisor

// requestWakes is nil off Linux: takeRequests polls.
func requestWakes(dir string, done <-chan struct{}) <-chan struct{} { return nil }
