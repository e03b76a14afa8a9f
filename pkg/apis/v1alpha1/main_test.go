package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

// One apiserver for the package, started on first use so the pure-logic tests in this binary
// do not pay for it.
var (
	envOnce sync.Once
	env     *environment.Environment
	errEnv  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// apiserver returns the shared envtest environment, failing the test if it cannot start.
func apiserver(t *testing.T) *environment.Environment {
	t.Helper()
	envOnce.Do(func() { env, errEnv = environment.Start() })
	if errEnv != nil {
		t.Fatalf("envtest: %v", errEnv)
	}
	return env
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// strict makes the apiserver reject fields the schema does not know instead of silently pruning
// them, so "accepted" really means "understood".
var strict = client.FieldValidation("Strict")

// expectInvalid asserts that err is the apiserver's Invalid error and mentions every want.
func expectInvalid(g Gomega, err error, want ...string) {
	g.ExpectWithOffset(1, err).To(HaveOccurred(), "the apiserver accepted the object")
	g.ExpectWithOffset(1, apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	for _, w := range want {
		g.ExpectWithOffset(1, err.Error()).To(ContainSubstring(w))
	}
}

// unstructuredOf builds an object of kind in our group from a spec, for the cases a typed object
// cannot express (a missing required field, a wrong JSON type).
func unstructuredOf(kind string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	u.SetName(strings.ToLower(kind) + "-" + randSuffix())
	return u
}

var (
	suffixMu sync.Mutex
	suffixN  int
)

func randSuffix() string {
	suffixMu.Lock()
	defer suffixMu.Unlock()
	suffixN++
	return fmt.Sprintf("u%d-%d", os.Getpid()%10000, suffixN)
}

// deleteAndWait removes obj and waits until the name is free again.
func deleteAndWait(ctx context.Context, g Gomega, c client.Client, obj client.Object) {
	g.ExpectWithOffset(1, client.IgnoreNotFound(c.Delete(ctx, obj))).To(Succeed())
	g.EventuallyWithOffset(1, func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)))
	}).WithTimeout(10 * time.Second).Should(BeTrue())
}
