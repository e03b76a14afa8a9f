// Package operator builds the process of the autoscaler: logging, the controller-runtime manager
// (metrics, health probes, leader election), the VPSie client and the cloud provider. The
// controllers are added on top of it by controllers.Register (see cmd/vpsie-autoscaler).
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	cpvpsie "github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/vpsie"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// UserAgent of the Kubernetes clients.
const UserAgent = "vpsie-autoscaler"

var setGlobalLoggers sync.Once

// cacheSyncProbeTimeout bounds how long one /readyz request waits for the informer caches.
const cacheSyncProbeTimeout = time.Second

// Operator is the assembled process: run Start after the controllers are registered.
type Operator struct {
	Manager       manager.Manager
	CloudProvider cloudprovider.CloudProvider
	Clock         clock.WithTicker
	Options       *Options
	Logger        logr.Logger
}

// NewScheme returns a scheme with the client-go types and autoscaling.vpsie.com/v1alpha1
// (the operator's own; nothing is registered globally).
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// NewLogger builds the controller-runtime zap logger from --log-level and --log-format. Levels
// map onto zap: debug shows logr V(1), info V(0), warn and error only errors (logr has no
// warning level).
func NewLogger(opts *Options) (logr.Logger, error) {
	var lvl zapcore.Level
	switch opts.LogLevel {
	case "debug":
		lvl = zapcore.DebugLevel
	case "info", "":
		lvl = zapcore.InfoLevel
	case "warn":
		lvl = zapcore.WarnLevel
	case "error":
		lvl = zapcore.ErrorLevel
	default:
		return logr.Logger{}, fmt.Errorf("--log-level: unknown level %q", opts.LogLevel)
	}
	zopts := []crzap.Opts{crzap.UseDevMode(false), crzap.Level(lvl)}
	switch opts.LogFormat {
	case "json", "":
		zopts = append(zopts, crzap.JSONEncoder())
	case "console":
		zopts = append(zopts, crzap.ConsoleEncoder())
	default:
		return logr.Logger{}, fmt.Errorf("--log-format: unknown format %q", opts.LogFormat)
	}
	out := opts.LogOutput
	if out == nil {
		out = os.Stderr
	}
	zopts = append(zopts, crzap.WriteTo(out))
	return crzap.New(zopts...), nil
}

// RESTConfig is the Kubernetes client config: the kubeconfig file when given, else in-cluster,
// $KUBECONFIG or ~/.kube/config.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s, %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubernetes client config (in-cluster, $KUBECONFIG or ~/.kube/config), %w", err)
	}
	return cfg, nil
}

// NewOperator sets the process loggers (controller-runtime's and klog's, on the first call),
// reads the VPSie credentials Secret once, builds the
// VPSie client, the manager against restConfig and the cloud provider. opts must be valid
// (Parse validates).
func NewOperator(ctx context.Context, restConfig *rest.Config, opts *Options) (*Operator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log, err := NewLogger(opts)
	if err != nil {
		return nil, err
	}
	// Process-wide loggers are set once: a later operator in the same process (tests) must not
	// swap them under goroutines of an earlier manager that may still be winding down.
	setGlobalLoggers.Do(func() {
		ctrl.SetLogger(log)
		klog.SetLogger(log.WithName("klog"))
	})
	ctx = logr.NewContext(ctx, log)

	cfg := rest.CopyConfig(restConfig)
	cfg.UserAgent = UserAgent
	cfg.QPS = float32(opts.KubeClientQPS)
	cfg.Burst = opts.KubeClientBurst

	scheme := NewScheme()
	// The Secret is read once with a direct client (the operator never watches Secrets, so no
	// informer caches them): credential rotation is a restart. Reading it before the manager
	// exists means a bad Secret fails fast, before any port is bound.
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes client, %w", err)
	}
	creds, err := ReadCredentials(ctx, direct, opts.VPSieSecretNamespace, opts.VPSieSecretName)
	if err != nil {
		return nil, err
	}
	api, err := vpsieapi.New(vpsieapi.Options{
		BaseURL:      creds.URL,
		Token:        creds.Token,
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret,
		RateLimit:    opts.VPSieAPIRateLimit,
		RateBurst:    opts.VPSieAPIBurst,
		Logger:       log,
		Metrics:      crmetrics.Registry,
	})
	if err != nil {
		return nil, fmt.Errorf("creating vpsie client from secret %s/%s, %w", opts.VPSieSecretNamespace, opts.VPSieSecretName, err)
	}

	shutdown := opts.GracefulShutdownTimeout
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsBindAddress},
		HealthProbeBindAddress:        opts.HealthProbeBindAddress,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
		BaseContext:                   func() context.Context { return crlog.IntoContext(context.Background(), log) },
		// Controller names are unique per process for their metrics; a test process that
		// starts one operator after another asks to skip that check.
		Controller: crconfig.Controller{SkipNameValidation: ptr.To(opts.SkipControllerNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating controller manager, %w", err)
	}

	cp, err := cpvpsie.New(cpvpsie.Options{
		Client:     api,
		KubeClient: mgr.GetClient(),
		ClusterID:  opts.ClusterID,
		Clock:      clock.RealClock{},
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("creating vpsie cloud provider, %w", err)
	}
	provider := cloudprovider.WithMetrics(cp)
	if opts.DryRun {
		provider = NewDryRun(provider, log)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding healthz check, %w", err)
	}
	if err := mgr.AddReadyzCheck("informer-caches", cacheSynced(mgr)); err != nil {
		return nil, fmt.Errorf("adding readyz check, %w", err)
	}
	log.Info("operator built",
		"clusterID", opts.ClusterID, "datacenter", opts.Datacenter, "dryRun", opts.DryRun,
		"leaderElection", opts.LeaderElect, "credentials", creds,
		"secret", opts.VPSieSecretNamespace+"/"+opts.VPSieSecretName)
	return &Operator{
		Manager:       mgr,
		CloudProvider: provider,
		Clock:         clock.RealClock{},
		Options:       opts,
		Logger:        log,
	}, nil
}

// cacheSynced is ready once the manager's informer caches have synced.
func cacheSynced(mgr manager.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncProbeTimeout)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}

// AddReadyzChecks adds checks (such as those controllers.Register returns) to /readyz. Call it
// before Start.
func (o *Operator) AddReadyzChecks(checks map[string]func() error) error {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		check := checks[name]
		if err := o.Manager.AddReadyzCheck(name, func(*http.Request) error { return check() }); err != nil {
			return fmt.Errorf("adding readyz check %q, %w", name, err)
		}
	}
	return nil
}

// Start runs the manager until ctx ends, then stops the controllers gracefully (and releases
// the leader Lease).
func (o *Operator) Start(ctx context.Context) error {
	o.Logger.Info("starting manager",
		"metricsBindAddress", o.Options.MetricsBindAddress, "healthProbeBindAddress", o.Options.HealthProbeBindAddress)
	if err := o.Manager.Start(ctx); err != nil {
		return fmt.Errorf("running manager, %w", err)
	}
	return nil
}
