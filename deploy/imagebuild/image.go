package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Paths and the user inside the image.
const (
	BinaryPath = "/usr/local/bin/lakemerge"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt" // where Go's crypto/x509 looks on Linux
	UID, GID   = 65532, 65532
	UserName   = "lakemerge"
	HomeDir    = "/home/lakemerge"
)

// Options say what to build.
type Options struct {
	Binary  string    // path of the lakemerge binary: static, with the SQL engine (see checkBinary)
	Tag     string    // reference name; default lakemerge:<module version>
	Source  string    // org.opencontainers.image.source
	Created time.Time // zero: the binary's commit time, else the Unix epoch
}

// Image is a built image and what it was built from.
type Image struct {
	Image    v1.Image
	Tag      string
	Platform string // os/arch
	CACerts  int    // certificates in the CA bundle
}

// Build makes the image: FROM scratch, one layer, the config below.
func Build(o Options) (Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return Image{}, fmt.Errorf("read the binary: %w", err)
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return Image{}, fmt.Errorf("%s: not a Go binary with build information: %w", o.Binary, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if err := checkBinary(bin, bi); err != nil {
		return Image{}, fmt.Errorf("%s: %w", o.Binary, err)
	}
	created := o.Created
	if created.IsZero() {
		if t, err := time.Parse(time.RFC3339, settings["vcs.time"]); err == nil {
			created = t
		} else {
			created = time.Unix(0, 0)
		}
	}
	created = created.UTC().Truncate(time.Second)
	version := bi.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	tag := o.Tag
	if tag == "" {
		tag = "lakemerge:" + strings.NewReplacer("+", "-").Replace(version)
	}
	if _, err := name.NewTag(tag); err != nil {
		return Image{}, fmt.Errorf("tag %q: %w", tag, err)
	}

	ca, n, err := caBundle()
	if err != nil {
		return Image{}, err
	}
	layerTar, err := rootfs(bin, ca, created)
	if err != nil {
		return Image{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return Image{}, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "deploy/imagebuild: " + BinaryPath + " (static, with the SQL engine), CA bundle, passwd, /tmp",
		},
	})
	if err != nil {
		return Image{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", settings["GOARCH"]
	if v := settings["GOARM"]; cf.Architecture == "arm" && v != "" {
		cf.Variant = "v" + strings.TrimSuffix(v, ",softfloat")
	}
	cf.Created = v1.Time{Time: created}
	labels := map[string]string{
		"org.opencontainers.image.title":       "lakemerge",
		"org.opencontainers.image.description": "Keeps Iceberg and Delta Lake tables in sync with AWS DMS and Debezium change files",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
		"org.opencontainers.image.source":      o.Source,
	}
	if rev := settings["vcs.revision"]; rev != "" {
		labels["org.opencontainers.image.revision"] = rev
	}
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"--help"},
		User:       fmt.Sprintf("%d:%d", UID, GID),
		WorkingDir: HomeDir,
		Env: []string{
			"PATH=/usr/local/bin",
			"HOME=" + HomeDir,
			"SSL_CERT_FILE=" + CAPath,
		},
		Labels: labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return Image{}, err
	}
	return Image{Image: img, Tag: tag, Platform: "linux/" + cf.Architecture, CACerts: n}, nil
}

// SQLEngineModule is the Go module of the SQL engine that prepared tables
// need (DuckDB, linked in through cgo); a binary without it refuses job
// files with prepared tables.
const SQLEngineModule = "github.com/duckdb/duckdb-go/v2"

// checkBinary refuses a binary that would not run in the image, or not
// fully: the image is FROM scratch, with no C library, no loader and no
// name-service modules, so the binary must be
//
//   - built for GOOS=linux;
//   - linked statically: no ELF interpreter, no shared libraries needed;
//   - built with the SQL engine (SQLEngineModule, which needs cgo and
//     -tags duckdb_arrow), so that prepared tables work in production;
//   - when built with cgo, built with -tags netgo,osusergo, so that host
//     names and users are looked up by Go's own code (/etc/hosts,
//     /etc/resolv.conf, /etc/passwd) and not by glibc's getaddrinfo and
//     getpwuid, which a static glibc can only do with the shared NSS
//     modules of its own version at run time.
func checkBinary(bin []byte, bi *buildinfo.BuildInfo) error {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" {
		return fmt.Errorf("built for GOOS=%s; the image needs GOOS=linux", settings["GOOS"])
	}
	if err := checkStatic(bin); err != nil {
		return err
	}
	if !slices.ContainsFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == SQLEngineModule }) {
		return fmt.Errorf("built without the SQL engine (%s; CGO_ENABLED=%s, -tags %q), so it would refuse job files with prepared tables: build it with deploy/build-image.sh (CGO_ENABLED=1, -tags duckdb_arrow, linked statically)",
			SQLEngineModule, settings["CGO_ENABLED"], settings["-tags"])
	}
	if settings["CGO_ENABLED"] == "1" {
		tags := strings.Split(settings["-tags"], ",")
		for _, want := range []string{"netgo", "osusergo"} {
			if !slices.Contains(tags, want) {
				return fmt.Errorf("built with cgo but without -tags %s (tags %q): it would look up %s through glibc, which a static binary cannot do in an image without glibc's shared NSS modules; add -tags netgo,osusergo",
					want, settings["-tags"], map[string]string{"netgo": "host names", "osusergo": "users"}[want])
			}
		}
	}
	return nil
}

// checkStatic refuses a dynamically linked ELF binary: one with an ELF
// interpreter (the loader) or that needs shared libraries.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (it has an ELF interpreter), and the image has no C library or loader: link it statically (CGO_ENABLED=1 with -ldflags '-linkmode external -extldflags \"-static\"', as deploy/build-image.sh does)")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read its dynamic section: %w", err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %v, and the image has none: link it statically", libs)
	}
	return nil
}

// caBundle is the Mozilla NSS trust store as golang.org/x/crypto's
// x509roots/fallback ships it (its version is pinned in go.mod, so the
// bundle is the same on every build machine), as PEM. Roots NSS trusts
// only with a constraint PEM cannot express (distrust after a date) are
// left out.
func caBundle() ([]byte, int, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, 0, err
		}
		n++
	}
	if n == 0 {
		return nil, 0, errors.New("the CA bundle is empty")
	}
	return buf.Bytes(), n, nil
}

// rootfs is the image's one layer, as an uncompressed tar: entries in
// path order, every time equal to mtime, owned by root but the user's
// home.
func rootfs(bin, ca []byte, mtime time.Time) ([]byte, error) {
	type entry struct {
		path string
		mode int64
		uid  int
		data []byte
		dir  bool
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", UserName, UID, GID, UserName, HomeDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, GID)
	entries := []entry{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "etc/ssl/", mode: 0o755, dir: true},
		{path: "etc/ssl/certs/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(CAPath, "/"), mode: 0o644, data: ca},
		{path: "home/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(HomeDir, "/") + "/", mode: 0o755, uid: UID, dir: true},
		{path: "tmp/", mode: 0o1777, dir: true},
		{path: "usr/", mode: 0o755, dir: true},
		{path: "usr/local/", mode: 0o755, dir: true},
		{path: "usr/local/bin/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: bin},
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteOCI writes img as an OCI image layout in a tar file (what
// `skopeo copy oci-archive:FILE docker://…`, `podman load` and `docker
// load` read), its index naming tag.
func WriteOCI(out string, img v1.Image, tag string) error {
	dir, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag,
		"io.containerd.image.name":          tag,
	})); err != nil {
		return err
	}
	return tarDir(dir, out)
}

// WriteDocker writes img in docker save format (`docker load`, `crane
// push FILE …`).
func WriteDocker(out string, img v1.Image, tag string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

// tarDir writes the files under dir to a tar file, in path order, with
// fixed times and owners, so that the same files give the same bytes.
func tarDir(dir, out string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	werr := func() error {
		for _, p := range paths {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
			if info.IsDir() {
				h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				continue
			}
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		}
		return tw.Close()
	}()
	return errors.Join(werr, f.Close())
}
