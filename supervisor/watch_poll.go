//go:build !linux

package supervisor

import (
	"io/fs"
	"log"
	"path/filepath"
	"time"
)

// watchTree sends the paths (relative to root, with /) of what changes
// under root: where inotify is not there, by looking at every file's size,
// time and mode four times a second.
func watchTree(root string, logger *log.Logger) (<-chan string, error) {
	seen, err := scanTree(root)
	if err != nil {
		return nil, err
	}
	out := make(chan string, 1024)
	go func() {
		for range time.Tick(250 * time.Millisecond) {
			now, err := scanTree(root)
			if err != nil {
				logger.Printf("watching: %v", err)
				continue
			}
			for p, s := range now {
				if seen[p] != s {
					out <- p
				}
			}
			for p := range seen {
				if _, ok := now[p]; !ok {
					out <- p
				}
			}
			seen = now
		}
	}()
	return out, nil
}

type fileState struct {
	size int64
	mod  time.Time
	mode fs.FileMode
}

func scanTree(root string) (map[string]fileState, error) {
	files := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		r, _ := filepath.Rel(root, p)
		r = filepath.ToSlash(r)
		if d.IsDir() {
			if skipDir(r) {
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err == nil {
			files[r] = fileState{info.Size(), info.ModTime(), info.Mode()}
		}
		return nil
	})
	return files, err
}
