package executor

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestNoInternalTypesInAPI: no exported function, method or field of the
// package names a type of an internal package, and JoinHandle has no
// method beyond its documented ones: what satisfies internal interfaces
// stays unexported.
func TestNoInternalTypesInAPI(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	internal := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); strings.Contains(path, "/internal/") {
				internal[filepath.Base(path)] = true
			}
		}
		names := func(n ast.Node) []string {
			var found []string
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] {
						found = append(found, id.Name+"."+sel.Sel.Name)
					}
				}
				return true
			})
			return found
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
					continue
				}
				if found := names(d.Type); len(found) > 0 {
					t.Errorf("%s: exported %s mentions %v", fset.Position(d.Pos()), d.Name.Name, found)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fld := range st.Fields.List {
						for _, n := range fld.Names {
							if found := names(fld.Type); n.IsExported() && len(found) > 0 {
								t.Errorf("%s: exported field %s.%s is %v", fset.Position(fld.Pos()), ts.Name.Name, n.Name, found)
							}
						}
					}
				}
			}
		}
	}

	var got []string
	ht := reflect.TypeFor[*JoinHandle[int]]()
	for i := range ht.NumMethod() {
		got = append(got, ht.Method(i).Name)
	}
	if want := []string{"Done", "Join", "Name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("*JoinHandle's methods are %v; want %v", got, want)
	}
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch x := typ.(type) {
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

// TestSpawnNilFunctionPanics: Spawn(ctx, nil) is a programming error named
// at the call, as "go of nil func value" is, not a crash inside the task.
func TestSpawnNilFunctionPanics(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	b := NewTaskResultBundle(e.Context())
	for name, fn := range map[string]func(){
		"Spawn":                  func() { Spawn[int](e.Context(), nil) },
		"TaskResultBundle.Spawn": func() { b.Spawn("nil", nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r != "executor: Spawn of a nil function" {
					t.Errorf("%s(nil) panicked with %v; want \"executor: Spawn of a nil function\"", name, r)
				}
			}()
			fn()
		}()
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestTaskRunnerAfterEnd: running the scheduler entry of a task that has
// ended again runs nothing and changes nothing.
func TestTaskRunnerAfterEnd(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	h := Spawn(e.Context(), func(context.Context) (int, error) { return 7, nil })
	if v, err := h.Join(e.Context()); v != 7 || err != nil {
		t.Fatalf("Join = %v, %v", v, err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("running an ended task's entry again panicked: %v", r)
			}
		}()
		if next := (*taskRunner[int])(h).RunTask(); next != nil {
			t.Fatalf("running an ended task's entry again returned a task to run")
		}
	}()
	if v, err := h.Join(e.Context()); v != 7 || err != nil {
		t.Fatalf("Join after the second run = %v, %v; want 7, nil", v, err)
	}
	if s := e.Stats(); s.Completed != 1 {
		t.Fatalf("Stats().Completed = %d; want 1", s.Completed)
	}
}
