// Package environment starts a real kube-apiserver and etcd (controller-runtime's envtest) from
// the project's tool cache, with the project's CRDs installed, for controller and API tests.
package environment

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/multierr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/crds"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

// Scheme holds the client-go types and autoscaling.vpsie.com/v1alpha1.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(v1alpha1.AddToScheme(Scheme))
}

// Environment is a running apiserver + etcd with clients for it.
type Environment struct {
	Config     *rest.Config
	Client     client.Client
	KubeClient kubernetes.Interface

	env *envtest.Environment
}

// Start starts etcd and kube-apiserver from the tool cache and installs the project CRDs. The
// caller must Stop it. The error names the missing tool when `make tools` has not been run.
func Start() (*Environment, error) {
	assets, err := tools.EnvtestAssets()
	if err != nil {
		return nil, err
	}
	crdList, err := crds.CRDs()
	if err != nil {
		return nil, fmt.Errorf("loading CRDs, %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                Scheme,
		CRDs:                  crdList,
		ErrorIfCRDPathMissing: true,
		// a cold apiserver on a loaded 2-core machine can take a while to report healthy
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// envtest runs no controller-manager, so the node lifecycle controller that takes the
	// not-ready taint (added by the TaintNodesByCondition admission plugin on create) off a Ready
	// Node never runs; without the plugin a Node the emulator reports Ready is Ready, as it is in
	// a full cluster a moment later. Tests that need the taint set it themselves.
	env.ControlPlane.GetAPIServer().Configure().Append("disable-admission-plugins", "TaintNodesByCondition")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest control plane from %s, %w", assets, err)
	}
	e := &Environment{Config: cfg, env: env}
	if e.Client, err = client.New(cfg, client.Options{Scheme: Scheme}); err != nil {
		return nil, stopWith(env, fmt.Errorf("creating client, %w", err))
	}
	if e.KubeClient, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, stopWith(env, fmt.Errorf("creating clientset, %w", err))
	}
	return e, nil
}

func stopWith(env *envtest.Environment, err error) error {
	if serr := env.Stop(); serr != nil {
		return multierr.Append(err, fmt.Errorf("stopping the control plane, %w", serr))
	}
	return err
}

// New starts an Environment for one test (or benchmark) and stops it on cleanup.
func New(tb testing.TB) *Environment {
	tb.Helper()
	e, err := Start()
	if err != nil {
		tb.Fatalf("envtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Stop(); err != nil {
			tb.Errorf("stopping envtest: %v", err)
		}
	})
	return e
}

// Stop stops the apiserver and etcd.
func (e *Environment) Stop() error {
	return e.env.Stop()
}
