package v1alpha1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

// nodeGroupDocument is one NodeGroup read from a file, as written there.
type nodeGroupDocument struct {
	source string // file:document-index
	raw    []byte
	object map[string]any
}

// readNodeGroups returns every autoscaling.vpsie.com NodeGroup document of a multi-document YAML
// (or JSON-lines-in-YAML) file, untouched.
func readNodeGroups(path string) ([]nodeGroupDocument, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s, %w", path, err)
	}
	defer func() { _ = f.Close() }()
	r := utilyaml.NewYAMLReader(bufio.NewReaderSize(f, 1<<20))
	var out []nodeGroupDocument
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d of %s, %w", i, path, err)
		}
		// Most bench documents are pods; skip them without a full decode.
		if !bytes.Contains(doc, []byte("NodeGroup")) {
			continue
		}
		// Decoded the way the client will send it (integers stay integers).
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("decoding document %d of %s, %w", i, path, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			// Documents without kind/apiVersion (or of other shapes) are not NodeGroups.
			continue
		}
		if u.GetKind() != "NodeGroup" || u.GetAPIVersion() != v1alpha1.GroupVersion.String() {
			continue
		}
		out = append(out, nodeGroupDocument{source: fmt.Sprintf("%s:%d", filepath.Base(path), i), raw: doc, object: u.Object})
	}
}

// expectCreatedUnchanged creates doc as written (strict field validation, so nothing is pruned
// silently), checks that the stored object still holds every field of the document with the same
// value, and deletes it again so the next document may reuse the name.
func expectCreatedUnchanged(ctx context.Context, g Gomega, c client.Client, doc nodeGroupDocument) {
	u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(doc.object)}
	g.Expect(c.Create(ctx, u, strict)).To(Succeed(), "%s was rejected:\n%s", doc.source, doc.raw)
	defer deleteAndWait(ctx, g, c, u)

	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(u.GroupVersionKind())
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(u), stored)).To(Succeed())
	g.Expect(containsAll(doc.object["spec"], stored.Object["spec"])).To(Succeed(), "%s: the stored spec lost or changed a field", doc.source)
}

// containsAll reports, as an error naming the path, the first value of want missing from got
// or different there. Numbers compare by value, whatever their Go type.
func containsAll(want, got any) error {
	return containsAt("spec", want, got)
}

func containsAt(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		gm, ok := got.(map[string]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return nil
			}
			return fmt.Errorf("%s: want an object, got %T", path, got)
		}
		for k, v := range w {
			gv, ok := gm[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing from the stored object", path, k)
			}
			if err := containsAt(path+"."+k, v, gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		gl, ok := got.([]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return nil
			}
			return fmt.Errorf("%s: want a list, got %T", path, got)
		}
		if len(gl) != len(w) {
			return fmt.Errorf("%s: want %d items, got %d", path, len(w), len(gl))
		}
		for i := range w {
			if err := containsAt(fmt.Sprintf("%s[%d]", path, i), w[i], gl[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if wf, ok := number(want); ok {
		if gf, ok := number(got); ok && wf == gf {
			return nil
		}
		return fmt.Errorf("%s: want %v, got %v", path, want, got)
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s: want %#v, got %#v", path, want, got)
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

func TestBenchNodeGroupsAreAccepted(t *testing.T) {
	bench, ok := tools.SharedBench()
	if !ok {
		t.Skip("../shared/bench not found: bench NodeGroups are only checked where the shared benchmark data exists")
	}
	files, err := filepath.Glob(filepath.Join(bench, "workloads", "*.yaml"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	if len(files) == 0 {
		t.Skipf("%s has no workloads/*.yaml: bench NodeGroups are only checked where the shared benchmark data exists", bench)
	}
	e := apiserver(t)
	total := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			g := NewWithT(t)
			docs, err := readNodeGroups(file)
			g.Expect(err).NotTo(HaveOccurred())
			for _, doc := range docs {
				expectCreatedUnchanged(testContext(t), g, e.Client, doc)
				total++
			}
		})
	}
	NewWithT(t).Expect(total).To(BeNumerically(">", 0), "the bench workloads hold NodeGroups")
	t.Logf("%d bench NodeGroups from %d files accepted", total, len(files))
}

func TestExampleNodeGroupsAreAccepted(t *testing.T) {
	root, err := tools.RepoRoot()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	files, err := filepath.Glob(filepath.Join(root, "hack", "examples", "nodegroups", "*.yaml"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(len(files)).To(BeNumerically(">=", 3), "the project ships example NodeGroups")
	e := apiserver(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			g := NewWithT(t)
			docs, err := readNodeGroups(file)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(docs).NotTo(BeEmpty())
			for _, doc := range docs {
				// The Go types must know every field the example uses ...
				ng := &v1alpha1.NodeGroup{}
				g.Expect(yaml.UnmarshalStrict(doc.raw, ng)).To(Succeed())
				// ... and the helpers must read its values.
				for _, d := range []v1alpha1.NillableDuration{ng.Spec.Disruption.ConsolidateAfter, ng.Spec.ExpireAfter} {
					if d != "" {
						_, _, err := d.Parse()
						g.Expect(err).NotTo(HaveOccurred())
					}
				}
				for _, b := range ng.Spec.Disruption.Budgets {
					_, err := b.AllowedDisruptions(10)
					g.Expect(err).NotTo(HaveOccurred())
				}
				_, _, err := ng.Spec.HourlyPriceCap()
				g.Expect(err).NotTo(HaveOccurred())

				expectCreatedUnchanged(testContext(t), g, e.Client, doc)
			}
		})
	}
}

func TestContainsAllFindsDifferences(t *testing.T) {
	g := NewWithT(t)
	want := map[string]any{"a": float64(1), "b": []any{map[string]any{"k": "v"}}, "empty": map[string]any{}}
	g.Expect(containsAll(want, map[string]any{"a": int64(1), "b": []any{map[string]any{"k": "v", "x": "y"}}, "empty": map[string]any{}})).To(Succeed())
	g.Expect(containsAll(want, map[string]any{"a": int64(2), "b": []any{map[string]any{"k": "v"}}, "empty": map[string]any{}})).To(MatchError(ContainSubstring("spec.a")))
	g.Expect(containsAll(want, map[string]any{"a": int64(1), "b": []any{}, "empty": map[string]any{}})).To(MatchError(ContainSubstring("spec.b: want 1 items")))
	g.Expect(containsAll(want, map[string]any{"a": int64(1), "b": []any{map[string]any{"k": "w"}}, "empty": map[string]any{}})).To(MatchError(ContainSubstring("spec.b[0].k")))
	g.Expect(containsAll(want, map[string]any{"a": int64(1), "b": []any{map[string]any{"k": "v"}}})).To(MatchError(ContainSubstring("spec.empty: missing")))
}
