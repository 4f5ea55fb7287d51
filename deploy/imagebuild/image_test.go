package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// untar unpacks a tar stream into dir, keeping modes (for an image's
// root filesystem: the binary must stay executable, /tmp sticky).
func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			t.Fatalf("tar entry %q leaves the folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		default:
			t.Fatalf("tar entry %q of type %c", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// binarySettings reads the build settings of a Go binary with `go version
// -m`, the toolchain's own reader.
func binarySettings(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "build" {
			k, v, _ := strings.Cut(f[1], "=")
			s[k] = v
		}
		if len(f) >= 3 && f[0] == "mod" {
			s["mod"] = f[2]
		}
		if len(f) >= 3 && f[0] == "dep" {
			s[f[1]] = f[2]
		}
	}
	return s
}

// inImage runs the image's binary with args inside its root filesystem,
// as the image's user where the test can: with chroot as root, or in a
// user namespace (unshare -r) as a mapped root otherwise; where neither
// works, straight from the unpacked folder.
func inImage(t *testing.T, rootfs string, cfg v1.Config, args ...string) (string, string, error) {
	t.Helper()
	return inImageEnv(t, rootfs, cfg, nil, args...)
}

// inImageEnv is inImage with env added to the image's environment.
func inImageEnv(t *testing.T, rootfs string, cfg v1.Config, env []string, args ...string) (string, string, error) {
	t.Helper()
	var cmd *exec.Cmd
	switch {
	case os.Geteuid() == 0:
		cmd = exec.Command("chroot", append([]string{"--userspec=" + cfg.User, rootfs}, append(cfg.Entrypoint, args...)...)...)
	case exec.Command("unshare", "-r", "true").Run() == nil:
		t.Log("not root: running in the image's root filesystem as a mapped root (unshare -r chroot), not as its user")
		cmd = exec.Command("unshare", append([]string{"-r", "chroot", rootfs}, append(cfg.Entrypoint, args...)...)...)
	default:
		t.Log("neither root nor user namespaces: running the image's binary from the unpacked folder, without chroot")
		cmd = exec.Command(filepath.Join(rootfs, cfg.Entrypoint[0]), args...)
	}
	cmd.Env = append(slices.Clone(cfg.Env), env...)
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestImage builds the image as a user does (deploy/build-image.sh), reads
// it back with go-containerregistry's OCI layout reader, checks its
// config, and runs `lakemerge version` and `lakemerge demo` inside its
// root filesystem. Building it again from the same binary gives the same
// digest, in both formats.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lakemerge.tar")
	build := exec.Command(filepath.Join("..", "build-image.sh"), out, "--tag", "lakemerge:test")
	build.Stderr = os.Stderr
	msg, err := build.Output()
	if err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "layout")
	untar(t, f, lay)
	f.Close()
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v %+v", err, im)
	}
	desc := im.Manifests[0]
	if desc.MediaType != types.OCIManifestSchema1 || desc.Annotations["org.opencontainers.image.ref.name"] != "lakemerge:test" {
		t.Errorf("index entry %+v", desc)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), desc.Digest.String()) {
		t.Errorf("build-image.sh printed %q, the index names %s", msg, desc.Digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v %d", err, len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}

	rootfs := filepath.Join(dir, "rootfs")
	rc := mutate.Extract(img)
	untar(t, rc, rootfs)
	rc.Close()
	bin := filepath.Join(rootfs, BinaryPath)
	settings := binarySettings(t, bin)

	// The config.
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{BinaryPath}) || c.User != "65532:65532" || c.WorkingDir != HomeDir ||
		!slices.Contains(c.Env, "SSL_CERT_FILE="+CAPath) || !slices.Contains(c.Env, "HOME="+HomeDir) {
		t.Errorf("config %+v", c)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || settings["GOARCH"] != runtime.GOARCH || settings["CGO_ENABLED"] != "1" ||
		!slices.Equal(strings.Split(settings["-tags"], ","), []string{"grpcnotrace", "duckdb_arrow", "netgo", "osusergo"}) {
		t.Errorf("platform %s/%s, binary %v", cf.OS, cf.Architecture, settings)
	}
	wantVersion := settings["mod"]
	if wantVersion == "(devel)" {
		wantVersion = "devel"
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "lakemerge",
		"org.opencontainers.image.version":  wantVersion,
		"org.opencontainers.image.source":   "https://github.com/lakemerge/lakemerge",
		"org.opencontainers.image.revision": settings["vcs.revision"],
		"org.opencontainers.image.created":  cf.Created.UTC().Format("2006-01-02T15:04:05Z07:00"),
	} {
		if got, ok := c.Labels[k]; got != want || (!ok && want != "") {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if rev := settings["vcs.revision"]; rev != "" {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err == nil && strings.TrimSpace(string(head)) != rev {
			t.Errorf("revision label %s, git HEAD %s", rev, head)
		}
		if cf.Created.UTC().Format("2006-01-02T15:04:05Z") != settings["vcs.time"] {
			t.Errorf("created %v, commit time %s", cf.Created, settings["vcs.time"])
		}
	} else {
		t.Log("the binary has no VCS information (built from a git worktree, which Go does not stamp, or with -buildvcs=false): no revision label")
	}

	// The root filesystem.
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
	if err != nil || !strings.Contains(string(passwd), "\nlakemerge:x:65532:65532:lakemerge:/home/lakemerge:") {
		t.Errorf("passwd: %v\n%s", err, passwd)
	}
	if st, err := os.Stat(filepath.Join(rootfs, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v", st.Mode(), err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", BinaryPath)
		}
	}
	if libs, err := ef.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("%s needs shared libraries %v (%v)", BinaryPath, libs, err)
	}
	ef.Close()
	pemData, err := os.ReadFile(filepath.Join(rootfs, CAPath))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for block, rest := pem.Decode(pemData); block != nil; block, rest = pem.Decode(rest) {
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("CA bundle: %v", err)
		}
		subjects = append(subjects, cert.Subject.CommonName)
	}
	// AWS endpoints (S3, Glue, SSM) chain to Amazon's roots.
	if len(subjects) < 100 || !slices.Contains(subjects, "Amazon Root CA 1") || !strings.Contains(string(msg), strconv.Itoa(len(subjects))+" CA certificates") {
		t.Errorf("CA bundle: %d certificates (%v)", len(subjects), subjects[:min(5, len(subjects))])
	}

	// Run it in the image, as its user: it has the SQL engine and keeps
	// the demo's prepared tables.
	stdout, stderr, err := inImage(t, rootfs, c, "version", "--json")
	var v struct {
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		IcebergGo string `json:"iceberg_go"`
		DuckDBGo  string `json:"duckdb_go"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &v) != nil || v.Commit != settings["vcs.revision"] || v.Version != settings["mod"] || v.IcebergGo == "" ||
		v.DuckDBGo == "" || v.DuckDBGo != settings[SQLEngineModule] {
		t.Fatalf("lakemerge version --json in the image: %v %+v (duckdb-go in the binary: %q)\n%s\n%s", err, v, settings[SQLEngineModule], stdout, stderr)
	}
	stdout, stderr, err = inImage(t, rootfs, c, "version")
	if want := "sql engine  duckdb-go " + v.DuckDBGo + " (DuckDB, linked in)"; err != nil || !strings.Contains(stdout, want) {
		t.Fatalf("lakemerge version in the image: %v, want %q\n%s\n%s", err, want, stdout, stderr)
	}
	stdout, stderr, err = inImage(t, rootfs, c, "demo", "--dir", "/tmp/demo")
	if err != nil || !strings.Contains(stdout, "demo.customers") || !strings.Contains(stdout, "demo.shipments") ||
		!strings.Contains(stdout, "demo_prepared.vip_customers (prepared, mirror) (4 rows)") ||
		!strings.Contains(stdout, "demo_prepared.weighed_shipments (prepared, mirror) (2 rows)") {
		t.Fatalf("lakemerge demo in the image: %v\n%s\n%s", err, stdout, stderr)
	}
	if strings.Contains(stderr, "prepared") {
		t.Errorf("lakemerge demo in the image said on stderr:\n%s", stderr)
	}

	// Host names are resolved by Go's resolver (-tags netgo) from the
	// image's /etc/hosts: the job file is asked of an SSM endpoint named
	// by a host name only /etc/hosts knows (the moto server), which
	// answers that the parameter does not exist.
	if ep := os.Getenv("LAKEMERGE_AWS_ENDPOINT"); ep == "" {
		t.Log("LAKEMERGE_AWS_ENDPOINT is not set (deploy/check.sh sets it): name resolution in the image not checked")
	} else {
		u, err := url.Parse(ep)
		if err != nil || u.Port() == "" {
			t.Fatalf("LAKEMERGE_AWS_ENDPOINT %q: want http://127.0.0.1:PORT", ep)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "etc", "hosts"), []byte("127.0.0.1 moto.lakemerge.test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
			"AWS_ENDPOINT_URL_SSM=http://moto.lakemerge.test:" + u.Port()}
		_, stderr, err = inImageEnv(t, rootfs, c, env, "check", "--config", "ssm:/lakemerge/image-test/absent")
		if err == nil || !strings.Contains(stderr, "ParameterNotFound") || strings.Contains(stderr, "no such host") {
			t.Errorf("lakemerge check --config ssm:... against moto.lakemerge.test (in the image's /etc/hosts): %v, want ParameterNotFound\n%s", err, stderr)
		}
	}

	// Again from the same binary: the same image, in both formats.
	for _, format := range []string{"oci", "docker"} {
		again := filepath.Join(dir, "again-"+format+".tar")
		if err := run([]string{"--binary", bin, "--out", again, "--tag", "lakemerge:test", "--format", format}, io.Discard, ""); err != nil {
			t.Fatal(err)
		}
		var digest v1.Hash
		if format == "oci" {
			a, _ := os.ReadFile(out)
			b, _ := os.ReadFile(again)
			if !bytes.Equal(a, b) {
				t.Errorf("a second build from the same binary differs")
			}
			continue
		}
		dimg, err := tarball.ImageFromPath(again, nil)
		if err != nil {
			t.Fatal(err)
		}
		if digest, err = dimg.ConfigName(); err != nil {
			t.Fatal(err)
		}
		want, _ := img.ConfigName()
		if digest != want {
			t.Errorf("docker archive config %s, OCI image config %s", digest, want)
		}
	}
}

// buildProgram builds a small Go program with the environment env added
// and returns the binary's path; it skips the test where cgo is wanted and
// there is no C toolchain.
func buildProgram(t *testing.T, env ...string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"os/user\"\n\nfunc main() { _, _ = user.Current() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		if slices.Contains(env, "CGO_ENABLED=1") {
			t.Skipf("no cgo toolchain here: %v\n%s", err, out)
		}
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRefusesBinary: imagebuild refuses, and writes no image for, a
// binary that cannot run FROM scratch (linked against the C library) or
// that lacks the SQL engine (CGO_ENABLED=0: prepared tables would be
// refused in production).
func TestRefusesBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds linux binaries")
	}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"dynamic", []string{"CGO_ENABLED=1"}, "dynamically linked (it has an ELF interpreter)"},
		{"no SQL engine", []string{"CGO_ENABLED=0"}, "built without the SQL engine (github.com/duckdb/duckdb-go/v2; CGO_ENABLED=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := buildProgram(t, tc.env...)
			out := filepath.Join(t.TempDir(), "x.tar")
			err := run([]string{"--binary", bin, "--out", out}, io.Discard, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("an image was written: %v", serr)
			}
		})
	}
}

// TestCheckBinaryLookups: a static cgo binary with the SQL engine is
// refused unless built with -tags netgo,osusergo. The build information
// is made up around a real static ELF binary: building one with DuckDB
// linked in takes the C++ link of the whole engine, which TestImage does
// once.
func TestCheckBinaryLookups(t *testing.T) {
	bin, err := os.ReadFile(buildProgram(t, "CGO_ENABLED=0"))
	if err != nil {
		t.Fatal(err)
	}
	info := func(tags string) *buildinfo.BuildInfo {
		return &buildinfo.BuildInfo{
			Deps: []*debug.Module{{Path: SQLEngineModule, Version: "v2.10506.0"}},
			Settings: []debug.BuildSetting{{Key: "-tags", Value: tags}, {Key: "CGO_ENABLED", Value: "1"},
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: runtime.GOARCH}},
		}
	}
	for tags, want := range map[string]string{
		"grpcnotrace,duckdb_arrow,netgo,osusergo": "",
		"duckdb_arrow,osusergo,netgo":             "",
		"grpcnotrace,duckdb_arrow":                "without -tags netgo",
		"duckdb_arrow,netgo":                      "without -tags osusergo",
	} {
		err := checkBinary(bin, info(tags))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("-tags %s: got %v, want %q", tags, err, want)
		}
	}
}
