// Package imports enforces the layering of DESIGN.md §2 on the source tree: imports flow one way,
// only pkg/simulator imports k8s.io/kubernetes, pkg/vpsie stays free of Kubernetes, and the
// optimiser (pkg/simulator/packing) depends on nothing but the standard library.
package imports

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

const module = tools.Module

// layer ranks project packages: a package may import project packages of its own rank or lower.
var layers = []struct {
	prefix string
	rank   int
}{
	{"pkg/apis", 0},
	{"pkg/toolcache", 0},
	{"pkg/vpsie", 0},
	{"pkg/scheduling", 1},
	{"pkg/metrics", 1},
	{"pkg/cloudprovider", 2},
	{"pkg/emulator", 2},
	{"pkg/state", 3},
	{"pkg/simulator", 3},
	{"pkg/controllers", 4},
	{"pkg/operator", 5},
	{"pkg/local", 5},
	{"cmd", 6},
	{"hack", 6},
	{"test", 7},
}

func rankOf(rel string) (int, bool) {
	for _, l := range layers {
		if rel == l.prefix || strings.HasPrefix(rel, l.prefix+"/") {
			return l.rank, true
		}
	}
	return 0, false
}

// stdlib: standard library paths have no dot in their first element.
func stdlib(im string) bool {
	first, _, _ := strings.Cut(im, "/")
	return !strings.Contains(first, ".")
}

func under(rel, prefix string) bool { return rel == prefix || strings.HasPrefix(rel, prefix+"/") }

type file struct {
	dir     string // package directory relative to the repo root
	name    string
	test    bool
	imports []string
}

func parseTree(t *testing.T, root string) []file {
	t.Helper()
	var files []file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			// tools/ is its own module; testdata and hidden dirs hold no project code
			if rel == "tools" || d.Name() == "testdata" || (strings.HasPrefix(d.Name(), ".") && rel != ".") || d.Name() == "_output" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parsing %s, %w", rel, err)
		}
		fl := file{dir: filepath.ToSlash(filepath.Dir(rel)), name: d.Name(), test: strings.HasSuffix(path, "_test.go")}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			fl.imports = append(fl.imports, p)
		}
		files = append(files, fl)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func violations(files []file) []string {
	var out []string
	add := func(f file, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s/%s: %s", f.dir, f.name, fmt.Sprintf(format, args...)))
	}
	for _, f := range files {
		rank, ranked := rankOf(f.dir)
		for _, im := range f.imports {
			if strings.HasPrefix(im, "k8s.io/kubernetes/") && !under(f.dir, "pkg/simulator") {
				add(f, "imports %s: only pkg/simulator may import k8s.io/kubernetes", im)
			}
			// The optimiser works on an abstract problem: the simulator translates Kubernetes into
			// it, consolidation reuses it. Its tests may use their assertion library.
			if under(f.dir, "pkg/simulator/packing") && !stdlib(im) && (!f.test || !strings.HasPrefix(im, "github.com/onsi/")) {
				add(f, "imports %s: pkg/simulator/packing uses the standard library only", im)
			}
			if under(f.dir, "pkg/vpsie") && (strings.HasPrefix(im, "k8s.io/") || strings.HasPrefix(im, "sigs.k8s.io/")) {
				add(f, "imports %s: pkg/vpsie must not depend on Kubernetes", im)
			}
			if !strings.HasPrefix(im, module+"/") {
				continue
			}
			target := strings.TrimPrefix(im, module+"/")
			if f.test {
				continue // tests may reach across layers (e.g. the emulator's client integration test)
			}
			if under(target, "pkg/test") && !under(f.dir, "pkg/test") && !under(f.dir, "test") {
				add(f, "imports %s: test helpers are for tests only", im)
			}
			// pkg/operator builds the client (from the credentials Secret) and hands it to the
			// cloud provider; it makes no calls with it.
			if under(target, "pkg/vpsie") && !under(f.dir, "pkg/vpsie") && !under(f.dir, "pkg/cloudprovider/vpsie") && !under(f.dir, "pkg/operator") {
				add(f, "imports %s: only pkg/cloudprovider/vpsie talks to the VPSie client (pkg/operator builds it)", im)
			}
			if under(f.dir, "pkg/controllers") && under(target, "pkg/controllers") {
				// controllers do not import each other, except the provisioner's simulation API
				from, to := strings.Split(f.dir, "/"), strings.Split(target, "/")
				if len(from) > 2 && len(to) > 2 && from[2] != to[2] && (from[2] != "consolidation" || to[2] != "provisioning") {
					add(f, "imports %s: controllers do not import each other", im)
				}
			}
			trank, tranked := rankOf(target)
			if ranked && tranked && trank > rank && !under(target, "pkg/test") {
				add(f, "imports %s: imports flow one way (%s may not import a later layer)", im, f.dir)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestImportRules(t *testing.T) {
	root, err := tools.RepoRoot()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(violations(parseTree(t, root))).To(BeEmpty())
}

func TestImportRulesCatchViolations(t *testing.T) {
	g := NewWithT(t)
	files := []file{
		{dir: "pkg/controllers/provisioning", name: "a.go", imports: []string{"k8s.io/kubernetes/pkg/scheduler/framework"}},
		{dir: "pkg/vpsie", name: "b.go", imports: []string{"k8s.io/client-go/kubernetes"}},
		{dir: "pkg/scheduling", name: "c.go", imports: []string{module + "/pkg/simulator"}},
		{dir: "pkg/controllers/consolidation", name: "d.go", imports: []string{module + "/pkg/controllers/provisioning", module + "/pkg/vpsie"}},
		{dir: "pkg/controllers/nodegroup", name: "e.go", imports: []string{module + "/pkg/controllers/provisioning"}},
		{dir: "pkg/simulator", name: "f.go", imports: []string{"k8s.io/kubernetes/pkg/scheduler/framework", module + "/pkg/test/fixtures"}},
		{dir: "pkg/emulator", name: "g_test.go", test: true, imports: []string{module + "/pkg/vpsie"}},
		{dir: "pkg/simulator/packing", name: "h.go", imports: []string{"math", "k8s.io/api/core/v1", module + "/pkg/scheduling"}},
		{dir: "pkg/simulator/packing", name: "i_test.go", test: true, imports: []string{"testing", "github.com/onsi/gomega"}},
	}
	g.Expect(violations(files)).To(ConsistOf(
		ContainSubstring("a.go: imports k8s.io/kubernetes/pkg/scheduler/framework: only pkg/simulator"),
		ContainSubstring("b.go: imports k8s.io/client-go/kubernetes: pkg/vpsie must not depend on Kubernetes"),
		ContainSubstring("c.go: imports "+module+"/pkg/simulator: imports flow one way"),
		ContainSubstring("d.go: imports "+module+"/pkg/vpsie: only pkg/cloudprovider/vpsie"),
		ContainSubstring("e.go: imports "+module+"/pkg/controllers/provisioning: controllers do not import each other"),
		ContainSubstring("f.go: imports "+module+"/pkg/test/fixtures: test helpers are for tests only"),
		ContainSubstring("h.go: imports k8s.io/api/core/v1: pkg/simulator/packing uses the standard library only"),
		ContainSubstring("h.go: imports "+module+"/pkg/scheduling: pkg/simulator/packing uses the standard library only"),
	))
}
