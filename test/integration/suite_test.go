// Package integration starts the autoscaler's real wiring (operator, controllers, VPSie cloud
// provider) against a real kube-apiserver + etcd (envtest) and the VPSie emulator over HTTP, the
// emulator creating the Nodes of the workers it boots.
package integration

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

var env *environment.Environment

func TestIntegration(t *testing.T) {
	// Work in progress (issue 6): the first burst launches its VPSieNodes 1.5 s after the burst,
	// but the VPSieNodes do not yet reach phase Ready in this run, so the suite is opt-in until
	// that is fixed.
	if false && os.Getenv("VPSIE_INTEGRATION") == "" {
		t.Skip("manager-level suite is opt-in while VPSieNodes do not reach Ready in it (issue 6); set VPSIE_INTEGRATION=1 to run it")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager integration")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = environment.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
})
