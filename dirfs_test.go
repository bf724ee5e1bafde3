package executor

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// makeTree writes a tree with nested directories under dir.
func makeTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{
		"hello.txt":         "hello, world\n",
		"empty":             "",
		"a/b/c/deep.txt":    strings.Repeat("deep ", 1000),
		"a/b/sibling.txt":   "sibling",
		"a/x.go":            "package x\n",
		"dir with space/f":  "spaced",
		"a/b/c/d/e/f/g.bin": string([]byte{0, 1, 2, 3, 255}),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o644))
	}
	must(t, os.Mkdir(filepath.Join(dir, "emptydir"), 0o755))
	return files
}

func TestDirFS(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		dir := t.TempDir()
		files := makeTree(t, dir)
		fsys := DirFS(e.Context(), dir)
		var expected []string
		for name := range files {
			expected = append(expected, name)
		}
		if err := fstest.TestFS(fsys, expected...); err != nil {
			t.Fatal(err)
		}
		// The same from inside a task, whose worker the I/O gives up.
		_, err := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
			return struct{}{}, fstest.TestFS(DirFS(ctx, dir+"/a"), "x.go", "b/sibling.txt")
		}).Join(e.Context())
		if err != nil {
			t.Fatal(err)
		}

		f, err := fsys.Open("a/b/c/deep.txt")
		must(t, err)
		defer f.Close()
		if _, ok := f.(io.ReaderAt); !ok {
			t.Error("file is not an io.ReaderAt")
		}
		if _, ok := f.(io.Seeker); !ok {
			t.Error("file is not an io.Seeker")
		}
	})
}

func TestDirFSRefusesEscapes(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		root := t.TempDir()
		must(t, os.WriteFile(filepath.Join(root, "secret"), []byte("outside"), 0o644))
		dir := filepath.Join(root, "tree")
		must(t, os.Mkdir(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "in"), []byte("inside"), 0o644))
		fsys := DirFS(e.Context(), dir)
		for _, name := range []string{"../secret", "in/../../secret", "/etc/passwd", "./in", "in/", "", "a//b", `..`} {
			_, errOpen := fsys.Open(name)
			_, errRead := fs.ReadFile(fsys, name)
			_, errStat := fs.Stat(fsys, name)
			_, errDir := fs.ReadDir(fsys, name)
			for what, err := range map[string]error{"Open": errOpen, "ReadFile": errRead, "Stat": errStat, "ReadDir": errDir} {
				var pe *fs.PathError
				if !errors.Is(err, fs.ErrInvalid) || !errors.As(err, &pe) || pe.Path != name {
					t.Errorf("%s(%q) = %v, want a *fs.PathError for %q wrapping fs.ErrInvalid", what, name, err, name)
				}
			}
		}
		// Errors name the path in the tree, as os.DirFS's do.
		_, err := fsys.Open("missing")
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Path != "missing" || pe.Op != "open" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(missing) = %v", err)
		}
		if _, err := DirFS(e.Context(), "").Open("in"); err == nil {
			t.Error("DirFS with an empty root opened a file")
		}
	})
}

func TestDirFSHTTP(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		dir := t.TempDir()
		files := makeTree(t, dir)
		srv := httptest.NewServer(http.FileServerFS(DirFS(e.Context(), dir)))
		defer srv.Close()
		get := func(path, rangeHdr string) (*http.Response, string) {
			t.Helper()
			req, err := http.NewRequest("GET", srv.URL+path, nil)
			must(t, err)
			if rangeHdr != "" {
				req.Header.Set("Range", rangeHdr)
			}
			resp, err := srv.Client().Do(req)
			must(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			must(t, err)
			return resp, string(body)
		}
		deep := files["a/b/c/deep.txt"]
		if resp, body := get("/a/b/c/deep.txt", ""); resp.StatusCode != 200 || body != deep {
			t.Errorf("GET deep.txt: %d, %d bytes", resp.StatusCode, len(body))
		}
		if resp, body := get("/a/b/c/deep.txt", "bytes=100-199"); resp.StatusCode != http.StatusPartialContent || body != deep[100:200] ||
			resp.Header.Get("Content-Range") != "bytes 100-199/5000" {
			t.Errorf("range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
		}
		if resp, body := get("/a/b/c/deep.txt", "bytes=-7"); resp.StatusCode != http.StatusPartialContent || body != deep[len(deep)-7:] {
			t.Errorf("suffix range: %d %q", resp.StatusCode, body)
		}
		resp, body := get("/a/b/c/deep.txt", "bytes=0-1,10-11")
		if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") ||
			!strings.Contains(body, deep[0:2]) {
			t.Errorf("multi-range: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp, _ := get("/hello.txt", "bytes=1000-"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("range past the end: %d", resp.StatusCode)
		}
		resp, body = get("/a/", "")
		for _, want := range []string{`<a href="b/">b/</a>`, `<a href="x.go">x.go</a>`} {
			if resp.StatusCode != 200 || !strings.Contains(body, want) {
				t.Errorf("listing of /a/: %d, no %s in %q", resp.StatusCode, want, body)
			}
		}
		if resp, _ := get("/missing", ""); resp.StatusCode != 404 {
			t.Errorf("GET /missing: %d", resp.StatusCode)
		}
		if resp, body := get("/a/x.go", ""); resp.StatusCode != 200 || body != files["a/x.go"] {
			t.Errorf("GET x.go: %d %q", resp.StatusCode, body)
		}
	})
}
