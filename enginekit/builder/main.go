// Command kit-builder is the engine kit's image builder. It runs inside a
// `dagger run` session on the kit's engine and builds, with Dagger pipelines:
//
//	sdk-image   the Go SDK image the engine runs Go modules in, as an OCI layout
//	standins    the stand-in images of enginekit/images.json, published to the
//	            local registry under their official names
//	list-npm    (no engine needed) the npm packages the stand-ins need, one
//	            "spec<TAB>tarball file name" a line, for the kit to fetch
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	ctx := context.Background()
	var err error
	switch cmd {
	case "sdk-image":
		err = runSDKImage(ctx, args)
	case "standins":
		err = runStandins(ctx, args)
	case "list-npm":
		err = runListNpm(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kit-builder %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kit-builder sdk-image|standins|list-npm [flags]")
	os.Exit(2)
}

// parse parses flags and checks that every flag in required was given.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	return nil
}
