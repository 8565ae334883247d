//go:build linux

package supervisor

import (
	"os"
	"syscall"
)

// requestWakes sends on the channel it returns when a file is written or
// moved into dir (a request), as inotify reports it, until done closes: a
// supervisor at rest then does nothing between requests, where a poll of
// the folder woke it ten times a second. It returns nil where inotify is
// not available (the user's instances used up, say); the caller then polls.
func requestWakes(dir string, done <-chan struct{}) <-chan struct{} {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO|syscall.IN_ONLYDIR); err != nil {
		syscall.Close(fd)
		return nil
	}
	// Non-blocking, the descriptor goes to Go's poller: a read waits
	// without holding a thread, and Close ends it.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	wakes := make(chan struct{}, 1)
	go func() {
		<-done
		f.Close()
	}()
	go func() {
		buf := make([]byte, 64*1024)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case wakes <- struct{}{}:
			default: // a wake is pending already: one look takes all
			}
		}
	}()
	return wakes
}
