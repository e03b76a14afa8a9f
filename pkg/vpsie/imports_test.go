package vpsie

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// The client is the Kubernetes-free layer of the design: nothing here may import Kubernetes.
func TestNoKubernetesImports(t *testing.T) {
	g := NewWithT(t)
	entries, err := os.ReadDir(".")
	g.Expect(err).NotTo(HaveOccurred())
	checked := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
		g.Expect(err).NotTo(HaveOccurred())
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			g.Expect(path).NotTo(Or(HavePrefix("k8s.io/"), HavePrefix("sigs.k8s.io/")), "%s imports %s", e.Name(), path)
		}
		checked++
	}
	g.Expect(checked).To(BeNumerically(">", 5))
}
