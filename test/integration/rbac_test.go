package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

// chartIdentity installs the chart's ServiceAccount and RBAC for a release named after ns (so
// the cluster-scoped objects of two specs do not collide) and returns a rest.Config that acts
// as that ServiceAccount, with the release's full name (the Lease name the Role allows). The
// autoscaler then has exactly the permissions the chart grants: a missing rule fails the
// scenario.
func chartIdentity(ctx context.Context, ns string) (*rest.Config, string) {
	GinkgoHelper()
	helm, err := tools.Path("helm")
	Expect(err).NotTo(HaveOccurred(), "helm renders the chart's RBAC; build it with `make tools` (or `hack/tools.sh helm`)")
	root, err := tools.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, "template", ns, filepath.Join(root, "charts", "vpsie-autoscaler"),
		"--namespace", ns, "--kube-version", "1.37.2",
		"--set", "clusterID="+clusterID, "--set", "vpsie.existingSecret=vpsie-credentials",
		"--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/clusterrole.yaml",
		"--show-only", "templates/clusterrolebinding.yaml", "--show-only", "templates/role.yaml")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	Expect(cmd.Run()).To(Succeed(), "helm template: %s", stderr.String())

	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		if len(obj.Object) == 0 {
			continue
		}
		Expect(env.Client.Create(ctx, obj)).To(Succeed(), "creating %s %s", obj.GetKind(), obj.GetName())
		DeferCleanup(func(ctx SpecContext) { Expect(env.Client.Delete(ctx, obj)).To(Succeed()) })
	}

	fullname := ns + "-vpsie-autoscaler"
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + fullname,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	return cfg, fullname
}
