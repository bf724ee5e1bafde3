//go:build !tinygo

// These tests inspect the sources and run the go tool: they need a host.

package cortexm

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTinyGoPortAndARMSizes type-checks the package as TinyGo builds it for
// a Cortex-M (port_tinygo.go included), against stand-ins for TinyGo's
// device/arm and runtime/interrupt with the same signatures, using the
// gc compiler's 32-bit ARM layout, and checks the documented sizes.
// It type-checks the standard library from source: skipped with -short,
// which CI uses for the GOARCH=arm run under qemu-arm, where it is slow.
func TestTinyGoPortAndARMSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checking the standard library skipped in -short mode")
	}
	fset := token.NewFileSet()
	var files []*ast.File
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	fake := map[string]string{
		"device/arm":        "package arm\nfunc Asm(asm string)\n",
		"runtime/interrupt": "package interrupt\ntype State uintptr\nfunc Disable() State\nfunc Restore(State)\n",
	}
	std := importer.ForCompiler(fset, "source", nil)
	imp := importerFunc(func(path string) (*types.Package, error) {
		src, ok := fake[path]
		if !ok {
			return std.Import(path)
		}
		f, err := parser.ParseFile(fset, path+".go", src, 0)
		if err != nil {
			return nil, err
		}
		conf := types.Config{FakeImportC: true, IgnoreFuncBodies: true}
		return conf.Check(path, fset, []*ast.File{f}, nil)
	})
	armSizes := types.SizesFor("gc", "arm")
	conf := types.Config{Importer: imp, Sizes: armSizes}
	pkg, err := conf.Check("github.com/executor-go/executor/cortexm", fset, files, nil)
	if err != nil {
		t.Fatalf("type-checking for tinygo/cortexm: %v", err)
	}
	if pkg.Scope().Lookup("CortexM") == nil {
		t.Fatal("port_tinygo.go not checked: no CortexM")
	}
	size := func(name string) uintptr {
		return uintptr(armSizes.Sizeof(pkg.Scope().Lookup(name).Type()))
	}
	got := struct{ node, slot, list, executor uintptr }{size("node"), size("Slot"), size("WakerList"), size("Executor")}
	if got != sizes[4] {
		t.Errorf("arm sizes %+v, documented %+v", got, sizes[4])
	}
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// TestCrossBuildARM builds and vets the module (the package, the simulator
// and the examples) for GOARCH=arm GOARM=7, the 32-bit layout of a
// Cortex-M.
func TestCrossBuildARM(t *testing.T) {
	if testing.Short() {
		t.Skip("cross build skipped in -short mode")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	pkgs := []string{"./..."}
	for _, verb := range []string{"build", "vet"} {
		cmd := exec.Command(gotool, append([]string{verb}, pkgs...)...)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOARCH=arm GOARM=7 go %s: %v\n%s", verb, err, out)
		}
	}
}

// TestOnlyPortFileUsesTinyGo checks that TinyGo-only packages are imported
// by port_tinygo.go alone, and that it is built only by TinyGo for a
// Cortex-M, so that every other file builds with the gc toolchain.
func TestOnlyPortFileUsesTinyGo(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	simNames, err := filepath.Glob("sim/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range append(names, simNames...) {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		tinygoOnly := false
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if path == "machine" || path == "device" || strings.HasPrefix(path, "device/") ||
				path == "runtime/interrupt" || path == "runtime/volatile" {
				tinygoOnly = true
			}
		}
		if tinygoOnly != (name == "port_tinygo.go") {
			t.Errorf("%s: imports TinyGo-only packages: %v", name, tinygoOnly)
		}
	}
	src, err := os.ReadFile("port_tinygo.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(src), "//go:build tinygo && cortexm\n") {
		t.Error("port_tinygo.go lacks the constraint //go:build tinygo && cortexm")
	}
}
