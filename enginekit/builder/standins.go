package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"
)

// specLabel holds the hash of the spec an image was built from, so that an
// image already in the registry is rebuilt only when its spec changed.
const specLabel = "io.commandcenter.standin.spec"

// Image is one stand-in image of enginekit/images.json.
type Image struct {
	// Name in the docker.io library ("postgres" is published as library/postgres).
	Name string `json:"name"`
	// Tags it is published under: the official tags the module uses.
	Tags []string `json:"tags"`
	// About says what it carries and how it differs from the official image.
	About string `json:"about"`
	// Packages are installed with apt-get from the Debian release of the rootfs.
	Packages []string `json:"packages"`
	// Npm packages ("name@version") are unpacked under /tmp/standin/npm/NAME
	// while Run runs; they do not end up in the image unless Run copies them.
	Npm []string `json:"npm"`
	// Files are copied from the kit's folder into the image.
	Files []File `json:"files"`
	// Dirs are folders of the machine the kit names (with --dir NAME=PATH)
	// copied into the image, such as a Go toolchain.
	Dirs []Dir `json:"dirs"`
	// Run are shell commands run after the packages are installed.
	Run []string `json:"run"`
	// Env are the image's environment variables, "KEY=VALUE".
	Env        []string `json:"env"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd"`
	Ports      []int    `json:"ports"`
	Workdir    string   `json:"workdir"`
}

// File is a file of the kit copied into an image.
type File struct {
	Src  string `json:"src"`
	Dest string `json:"dest"`
	// Mode is octal, "0755" by default.
	Mode string `json:"mode"`
}

// Dir is a folder of the machine, named by the kit, copied into an image.
type Dir struct {
	From string `json:"from"`
	Dest string `json:"dest"`
}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	tagPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	npmPattern  = regexp.MustCompile(`^(@[a-z0-9._-]+/)?[a-z0-9._-]+@[0-9][0-9A-Za-z.+-]*$`)
)

// loadImages reads and checks the stand-in list.
func loadImages(path string) ([]Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list struct {
		Images []Image `json:"images"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, img := range list.Images {
		if !namePattern.MatchString(img.Name) {
			return nil, fmt.Errorf("%s: image name %q is not a valid repository name", path, img.Name)
		}
		if len(img.Tags) == 0 {
			return nil, fmt.Errorf("%s: image %q has no tags", path, img.Name)
		}
		for _, tag := range img.Tags {
			if !tagPattern.MatchString(tag) {
				return nil, fmt.Errorf("%s: image %q: %q is not a valid tag", path, img.Name, tag)
			}
			if seen[img.Name+":"+tag] {
				return nil, fmt.Errorf("%s: %s:%s is listed twice", path, img.Name, tag)
			}
			seen[img.Name+":"+tag] = true
		}
		for _, spec := range img.Npm {
			if !npmPattern.MatchString(spec) {
				return nil, fmt.Errorf("%s: image %q: npm package %q must be NAME@EXACT_VERSION", path, img.Name, spec)
			}
		}
		for _, f := range img.Files {
			if _, err := fileMode(f); err != nil {
				return nil, fmt.Errorf("%s: image %q: %w", path, img.Name, err)
			}
			if !strings.HasPrefix(f.Dest, "/") {
				return nil, fmt.Errorf("%s: image %q: file destination %q must be an absolute path", path, img.Name, f.Dest)
			}
		}
		for _, env := range img.Env {
			if !strings.Contains(env, "=") {
				return nil, fmt.Errorf("%s: image %q: env %q must be KEY=VALUE", path, img.Name, env)
			}
		}
	}
	return list.Images, nil
}

// fileMode parses a File's octal mode.
func fileMode(f File) (int, error) {
	if f.Mode == "" {
		return 0o755, nil
	}
	mode, err := strconv.ParseUint(f.Mode, 8, 32)
	if err != nil || mode > 0o7777 {
		return 0, fmt.Errorf("file %s: mode %q must be octal, like \"0755\"", f.Src, f.Mode)
	}
	return int(mode), nil
}

// npmTarball is the file name `npm pack` gives NAME@VERSION.
func npmTarball(spec string) string {
	at := strings.LastIndex(spec, "@")
	name, version := strings.TrimPrefix(spec[:at], "@"), spec[at+1:]
	return strings.ReplaceAll(name, "/", "-") + "-" + version + ".tgz"
}

// npmName is the package name of NAME@VERSION.
func npmName(spec string) string {
	return spec[:strings.LastIndex(spec, "@")]
}

func runListNpm(args []string) error {
	fs := flag.NewFlagSet("list-npm", flag.ContinueOnError)
	imagesPath := fs.String("images", "", "the stand-in list (images.json)")
	if err := parse(fs, args, "images"); err != nil {
		return err
	}
	images, err := loadImages(*imagesPath)
	if err != nil {
		return err
	}
	specs := map[string]bool{}
	for _, img := range images {
		for _, spec := range img.Npm {
			specs[spec] = true
		}
	}
	sorted := make([]string, 0, len(specs))
	for spec := range specs {
		sorted = append(sorted, spec)
	}
	sort.Strings(sorted)
	for _, spec := range sorted {
		fmt.Printf("%s\t%s\n", spec, npmTarball(spec))
	}
	return nil
}

// specHash identifies everything an image is built from: its entry in the
// list and the content of the kit files it copies.
func specHash(img Image, kitDir string, dirs map[string]string, caHash string) (string, error) {
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(img); err != nil {
		return "", err
	}
	if caHash != "" {
		fmt.Fprintf(h, "machine CAs %s\n", caHash)
	}
	// An image of the mirror with layers compressed otherwise is built again.
	fmt.Fprintf(h, "layers %s\n", layerCompression)
	for _, d := range img.Dirs {
		path, ok := dirs[d.From]
		if !ok {
			return "", fmt.Errorf("image %q: folder %q is not given to the builder (--dir %s=PATH)", img.Name, d.From, d.From)
		}
		// The path names what is in it (a toolchain's folder names its version).
		fmt.Fprintf(h, "dir %s=%s\n", d.From, path)
	}
	for _, f := range img.Files {
		data, err := os.ReadFile(filepath.Join(kitDir, f.Src))
		if err != nil {
			return "", fmt.Errorf("image %q: %w", img.Name, err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

type standinOpts struct {
	kitDir, rootfs, npmDir, registry string
	dirs                             map[string]string
	cas                              machineCAs
	caHash                           string
}

func runStandins(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standins", flag.ContinueOnError)
	imagesPath := fs.String("images", "", "the stand-in list (images.json)")
	var o standinOpts
	fs.StringVar(&o.kitDir, "kit", "", "the kit's folder (files in the list are relative to it)")
	fs.StringVar(&o.rootfs, "rootfs", "", "Debian rootfs folder the images start from")
	fs.StringVar(&o.npmDir, "npm-dir", "", "folder with the npm tarballs the list names")
	fs.StringVar(&o.registry, "registry", "", "registry to publish to (host:port)")
	summary := fs.String("summary", "", "file to write one line an image to")
	caDir := fs.String("ca-dir", "", "folder of the machine's own CA certificates (*.crt) to build into the images")
	o.dirs = map[string]string{}
	fs.Func("dir", "NAME=PATH: a folder of the machine that images.json names as NAME (repeatable)", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("--dir takes NAME=PATH, not %q", v)
		}
		o.dirs[name] = path
		return nil
	})
	if err := parse(fs, args, "images", "kit", "rootfs", "npm-dir", "registry", "summary"); err != nil {
		return err
	}
	images, err := loadImages(*imagesPath)
	if err != nil {
		return err
	}
	if o.cas, err = loadMachineCAs(*caDir); err != nil {
		return err
	}
	if len(o.cas.files) > 0 {
		if o.caHash, err = o.cas.hash(); err != nil {
			return err
		}
	}

	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		return fmt.Errorf("connect to the engine: %w", err)
	}
	defer client.Close()

	lines := make([]string, len(images))
	errs := make([]error, len(images))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			lines[i], errs[i] = standin(ctx, client, img, o)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("stand-in %s: %w", img.Name, errs[i])
				lines[i] = fmt.Sprintf("%-8s FAILED: %v", img.Name, errs[i])
			}
		}()
	}
	wg.Wait()
	out := strings.Join(lines, "\n") + "\n"
	fmt.Fprint(os.Stderr, out)
	if err := os.WriteFile(*summary, []byte(out), 0o644); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// standin builds one image unless every tag of it in the registry already
// carries the same spec hash, and publishes it under each of its tags.
func standin(ctx context.Context, client *dagger.Client, img Image, o standinOpts) (string, error) {
	hash, err := specHash(img, o.kitDir, o.dirs, o.caHash)
	if err != nil {
		return "", err
	}
	current := true
	for _, tag := range img.Tags {
		got, err := publishedSpec(ctx, o.registry, img.Name, tag)
		if err != nil {
			return "", err
		}
		if got != hash {
			current = false
		}
	}
	refs := strings.Join(img.Tags, ", ")
	if current {
		return fmt.Sprintf("%-8s %s: up to date", img.Name, refs), nil
	}

	start := time.Now()
	ctr := o.cas.addTo(client, client.Container().WithRootfs(client.Host().Directory(o.rootfs))).
		WithEnvVariable("DEBIAN_FRONTEND", "noninteractive")
	if len(img.Packages) > 0 {
		// policy-rc.d keeps package scripts from starting services in the build.
		ctr = ctr.WithExec([]string{"sh", "-ec", strings.Join([]string{
			"printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
			"apt-get update",
			"apt-get install -y --no-install-recommends " + strings.Join(img.Packages, " "),
			"apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d",
		}, "\n")})
	}
	for _, f := range img.Files {
		mode, _ := fileMode(f)
		ctr = ctr.WithFile(f.Dest, client.Host().File(filepath.Join(o.kitDir, f.Src)),
			dagger.ContainerWithFileOpts{Permissions: mode})
	}
	for _, d := range img.Dirs {
		ctr = ctr.WithDirectory(d.Dest, client.Host().Directory(o.dirs[d.From]))
	}
	if len(img.Run) > 0 {
		var script []string
		if len(img.Npm) > 0 {
			var files []string
			for _, spec := range img.Npm {
				dir := "/tmp/standin/npm/" + npmName(spec)
				script = append(script, fmt.Sprintf("mkdir -p %s && tar -xzf /tmp/standin/tarballs/%s -C %s --strip-components=1 --no-same-owner",
					dir, npmTarball(spec), dir))
				files = append(files, npmTarball(spec))
			}
			ctr = ctr.
				WithMountedDirectory("/tmp/standin/tarballs", client.Host().Directory(o.npmDir, dagger.HostDirectoryOpts{Include: files})).
				WithMountedTemp("/tmp/standin/npm")
		}
		script = append(script, img.Run...)
		ctr = ctr.WithExec([]string{"sh", "-ec", strings.Join(script, "\n")})
		if len(img.Npm) > 0 {
			ctr = ctr.WithoutMount("/tmp/standin/tarballs").WithoutMount("/tmp/standin/npm")
		}
	}
	ctr = ctr.WithoutEnvVariable("DEBIAN_FRONTEND")
	for _, env := range img.Env {
		k, v, _ := strings.Cut(env, "=")
		ctr = ctr.WithEnvVariable(k, v)
	}
	for _, port := range img.Ports {
		ctr = ctr.WithExposedPort(port)
	}
	if img.Workdir != "" {
		ctr = ctr.WithWorkdir(img.Workdir)
	}
	ctr = ctr.
		WithEntrypoint(img.Entrypoint).
		WithDefaultArgs(img.Cmd).
		WithLabel(specLabel, hash).
		WithLabel("org.opencontainers.image.description", "commandcenter engine kit stand-in: "+img.About)

	var digest string
	for _, tag := range img.Tags {
		ref, err := ctr.Publish(ctx, fmt.Sprintf("%s/library/%s:%s", o.registry, img.Name, tag),
			dagger.ContainerPublishOpts{ForcedCompression: layerCompression})
		if err != nil {
			return "", err
		}
		digest = ref[strings.LastIndex(ref, "@")+1:]
	}
	return fmt.Sprintf("%-8s %s: built and published in %s (%s)", img.Name, refs,
		time.Since(start).Round(time.Second), digest), nil
}

// publishedSpec returns the spec label of NAME:TAG in the registry, or ""
// when the registry does not have it.
func publishedSpec(ctx context.Context, registry, name, tag string) (string, error) {
	base := fmt.Sprintf("http://%s/v2/library/%s", registry, name)
	var manifest struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	found, err := getJSON(ctx, base+"/manifests/"+tag, &manifest)
	if err != nil || !found {
		return "", err
	}
	if manifest.Config.Digest == "" && len(manifest.Manifests) > 0 {
		if found, err = getJSON(ctx, base+"/manifests/"+manifest.Manifests[0].Digest, &manifest); err != nil || !found {
			return "", err
		}
	}
	if manifest.Config.Digest == "" {
		return "", nil
	}
	var config struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if found, err = getJSON(ctx, base+"/blobs/"+manifest.Config.Digest, &config); err != nil || !found {
		return "", err
	}
	return config.Config.Labels[specLabel], nil
}

// getJSON fetches url into v; it reports false when the registry says 404.
func getJSON(ctx context.Context, url string, v any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask the registry: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return true, json.NewDecoder(resp.Body).Decode(v)
}
