package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"dagger.io/dagger"
)

// imageCADir is where Debian's ca-certificates package looks for local CA
// certificates (*.crt) to add to the system bundle.
const imageCADir = "/usr/local/share/ca-certificates"

// machineCAs are the machine's own CA certificates (such as a TLS-inspecting
// proxy's), which the kit builds into its images: every image that installs
// ca-certificates then trusts them in /etc/ssl/certs/ca-certificates.crt, and
// the kit's engine does not have to install them into each container it
// starts (which it does for every exec, at a cost of about a second each on
// two cores, when its own /usr/local/share/ca-certificates is not empty).
type machineCAs struct {
	dir   string   // folder of the machine with them; "" for none
	files []string // their paths in dir, sorted
}

// loadMachineCAs finds the *.crt files under dir ("" or a folder without any
// means the machine has none of its own).
func loadMachineCAs(dir string) (machineCAs, error) {
	cas := machineCAs{dir: dir}
	if dir == "" {
		return cas, nil
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".crt") {
			info, err := os.Stat(path) // follows links, as update-ca-certificates does
			if err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				rel, _ := filepath.Rel(dir, path)
				cas.files = append(cas.files, rel)
			}
		}
		return nil
	})
	if err != nil {
		return cas, fmt.Errorf("read the machine's CA certificates in %s: %w", dir, err)
	}
	sort.Strings(cas.files)
	return cas, nil
}

// hash names the certificates, so that an image built with other ones is
// built again.
func (c machineCAs) hash() (string, error) {
	h := sha256.New()
	for _, f := range c.files {
		data, err := os.ReadFile(filepath.Join(c.dir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// addTo puts the certificates where ca-certificates finds them; it must come
// before the package is installed, whose set-up builds the bundle.
func (c machineCAs) addTo(client *dagger.Client, ctr *dagger.Container) *dagger.Container {
	if len(c.files) == 0 {
		return ctr
	}
	return ctr.WithDirectory(imageCADir, client.Host().Directory(c.dir, dagger.HostDirectoryOpts{Include: c.files}))
}
