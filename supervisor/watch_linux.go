//go:build linux

package supervisor

import (
	"fmt"
	"io/fs"
	"log"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"
)

// watchTree sends the paths (relative to root, with /) of what changes
// under root, as inotify reports it: files written and closed, made,
// deleted, moved in or out, their modes changed. A folder made or moved in
// is watched too, and its own path sent (the batch takes what it holds).
func watchTree(root string, logger *log.Logger) (<-chan string, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	t := &inotifyTree{fd: fd, root: root, dirs: map[int32]string{}, log: logger}
	if err := t.add("."); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	out := make(chan string, 1024)
	go t.read(out)
	return out, nil
}

const watchMask = syscall.IN_CLOSE_WRITE | syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MOVED_FROM |
	syscall.IN_MOVED_TO | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF | syscall.IN_ONLYDIR

type inotifyTree struct {
	fd   int
	root string
	log  *log.Logger
	mu   sync.Mutex
	dirs map[int32]string // watch descriptor -> folder, relative to root
}

// add watches the folder rel and every folder under it.
func (t *inotifyTree) add(rel string) error {
	return filepath.WalkDir(filepath.Join(t.root, filepath.FromSlash(rel)), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile
		}
		if !d.IsDir() {
			return nil
		}
		r, _ := filepath.Rel(t.root, p)
		r = filepath.ToSlash(r)
		if skipDir(r) {
			return filepath.SkipDir
		}
		wd, err := syscall.InotifyAddWatch(t.fd, p, watchMask)
		if err != nil {
			if err == syscall.ENOSPC {
				return fmt.Errorf("cannot watch %s: the system's inotify watches are used up (raise fs.inotify.max_user_watches)", p)
			}
			return nil
		}
		t.mu.Lock()
		t.dirs[int32(wd)] = r
		t.mu.Unlock()
		return nil
	})
}

func (t *inotifyTree) read(out chan<- string) {
	buf := make([]byte, 64*1024)
	for {
		n, err := syscall.Read(t.fd, buf)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			t.log.Printf("watching stopped: %v", err)
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			name := string(nameBytes)
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			t.mu.Lock()
			dir, ok := t.dirs[ev.Wd]
			if ev.Mask&syscall.IN_IGNORED != 0 {
				delete(t.dirs, ev.Wd)
			}
			t.mu.Unlock()
			if !ok || name == "" {
				continue
			}
			rel := path.Join(dir, name)
			if ev.Mask&syscall.IN_ISDIR != 0 {
				if skipDir(rel) {
					continue
				}
				if ev.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
					if err := t.add(rel); err != nil {
						t.log.Print(err)
					}
				}
			}
			out <- rel
		}
	}
}
