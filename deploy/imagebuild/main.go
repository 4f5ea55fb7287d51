// Command imagebuild packs a static lakemerge binary with the SQL engine
// (DuckDB linked in; see checkBinary for what it refuses) into a container
// image without a Docker daemon or a registry: FROM scratch, one layer
// holding the binary, a CA bundle, a passwd entry for a non-root user and
// a writable /tmp, written as an OCI image layout tarball (oci-archive) or
// a docker-archive (docker save format). The same binary and flags give
// the same bytes: every timestamp in the image is the binary's commit time
// (or SOURCE_DATE_EPOCH, or --created).
//
// It is a separate module so that go-containerregistry never reaches the
// lakemerge binary or its go.mod. deploy/build-image.sh builds the binary
// and runs it; the README's "Deploying on AWS" says how to push the result.
//
// Usage:
//
//	imagebuild --binary path/to/lakemerge --out lakemerge-image.tar [--tag lakemerge:dev]
//	           [--format oci|docker] [--source URL] [--created RFC3339]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer, sourceDateEpoch string) error {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	var opts Options
	var out, format, created string
	fs.StringVar(&opts.Binary, "binary", "", "the lakemerge binary: GOOS=linux, linked statically, with the SQL engine (as deploy/build-image.sh builds it)")
	fs.StringVar(&out, "out", "", "the image tarball to write")
	fs.StringVar(&opts.Tag, "tag", "", "the image's reference name (default lakemerge:<version>)")
	fs.StringVar(&format, "format", "oci", "oci (an OCI image layout tarball) or docker (docker save format)")
	fs.StringVar(&opts.Source, "source", "https://github.com/lakemerge/lakemerge", "the org.opencontainers.image.source label")
	fs.StringVar(&created, "created", "", "the image's creation time, RFC 3339 (default: SOURCE_DATE_EPOCH, else the binary's commit time, else 1970-01-01)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.Binary == "" || out == "" || fs.NArg() != 0 {
		return fmt.Errorf("want --binary and --out, and no arguments (see -h)")
	}
	switch {
	case created != "":
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("--created %q: %w", created, err)
		}
		opts.Created = t
	case sourceDateEpoch != "":
		var s int64
		if _, err := fmt.Sscan(sourceDateEpoch, &s); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", sourceDateEpoch)
		}
		opts.Created = time.Unix(s, 0)
	}
	img, err := Build(opts)
	if err != nil {
		return err
	}
	switch format {
	case "oci":
		err = WriteOCI(out, img.Image, img.Tag)
	case "docker":
		err = WriteDocker(out, img.Image, img.Tag)
	default:
		return fmt.Errorf("--format %q: want oci or docker", format)
	}
	if err != nil {
		return err
	}
	digest, err := img.Image.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s %s (%s, %s, %d CA certificates)\n", out, img.Tag, digest, img.Platform, format, img.CACerts)
	return nil
}
