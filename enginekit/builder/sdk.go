package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dagger.io/dagger"
)

// layerCompression compresses the layers of the images the kit builds (the
// SDK image and the stand-ins). zstd: the engine compresses with it several
// times faster than with gzip (the python stand-in, 500 MB of layers, was
// compressed and published in 4 s; gzip runs at about 29 MB/s on one core
// here), and the layers stay about as small, which matters as they are
// written to this machine's disk twice (the registry, or the tarball and its
// layout). The engine pulls and unpacks zstd layers as it does gzip ones.
const layerCompression = dagger.ImageLayerCompressionZstd

const sdkPath = "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runSDKImage builds the image the engine runs Go modules in and writes it
// as an OCI layout, with the digest of its manifest in a file.
func runSDKImage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sdk-image", flag.ContinueOnError)
	rootfs := fs.String("rootfs", "", "Debian rootfs folder the image starts from")
	goroot := fs.String("goroot", "", "Go toolchain to install at /usr/local/go")
	codegen := fs.String("codegen", "", "the dagger codegen binary")
	version := fs.String("dagger-version", "", "dagger.io/dagger version to warm the module cache with")
	layout := fs.String("layout", "", "folder to write the OCI layout to")
	digestFile := fs.String("digest-file", "", "file to write the manifest digest to")
	caDir := fs.String("ca-dir", "", "folder of the machine's own CA certificates (*.crt) to build into the image")
	if err := parse(fs, args, "rootfs", "goroot", "codegen", "dagger-version", "layout", "digest-file"); err != nil {
		return err
	}

	cas, err := loadMachineCAs(*caDir)
	if err != nil {
		return err
	}
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		return fmt.Errorf("connect to the engine: %w", err)
	}
	defer client.Close()

	// The module cache and build cache are seeded from the image: the engine
	// copies /go/pkg/mod and /root/.cache/go-build into its cache volumes, so
	// warming them here makes every module's first build fast.
	warm := strings.Join([]string{
		"mkdir -p /go/pkg/mod /root/.cache/go-build /tmp/warm",
		"cd /tmp/warm",
		"go mod init warm",
		"go get dagger.io/dagger@" + *version,
		"go list -deps -export dagger.io/dagger/... >/dev/null",
		"go build std",
		"cd / && rm -rf /tmp/warm",
	}, " && ")

	ctr := cas.addTo(client, client.Container().WithRootfs(client.Host().Directory(*rootfs))).
		WithEnvVariable("DEBIAN_FRONTEND", "noninteractive").
		WithExec([]string{"sh", "-c", "apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client && rm -rf /var/lib/apt/lists/*"}).
		WithDirectory("/usr/local/go", client.Host().Directory(*goroot)).
		WithFile("/usr/local/bin/codegen", client.Host().File(*codegen), dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithEnvVariable("PATH", sdkPath).
		WithEnvVariable("GOPATH", "/go").
		WithEnvVariable("GOTOOLCHAIN", "auto").
		WithExec([]string{"sh", "-c", warm}).
		WithWorkdir("/")

	tarball := filepath.Join(filepath.Dir(*layout), "sdk-image.tar")
	if _, err := ctr.AsTarball(dagger.ContainerAsTarballOpts{ForcedCompression: layerCompression}).
		Export(ctx, tarball); err != nil {
		return fmt.Errorf("build the image: %w", err)
	}
	defer os.Remove(tarball)

	if err := os.RemoveAll(*layout); err != nil {
		return err
	}
	if err := untar(tarball, *layout); err != nil {
		return fmt.Errorf("unpack %s: %w", tarball, err)
	}
	digest, err := manifestDigest(*layout)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "go sdk image manifest: %s\n", digest)
	return os.WriteFile(*digestFile, []byte(digest+"\n"), 0o644)
}

// manifestDigest returns the digest of the single image manifest an OCI
// layout's index.json names.
func manifestDigest(layout string) (string, error) {
	data, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		return "", err
	}
	var index struct {
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return "", fmt.Errorf("read index.json: %w", err)
	}
	if len(index.Manifests) != 1 || !strings.HasSuffix(index.Manifests[0].MediaType, "manifest.v1+json") {
		return "", fmt.Errorf("index.json should name exactly one image manifest, it names %+v", index.Manifests)
	}
	return index.Manifests[0].Digest, nil
}

// untar unpacks a tar file of regular files and folders into dir.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %c in an OCI layout", hdr.Name, hdr.Typeflag)
		}
	}
}
