package operator

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/multierr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers"
)

// EnvPrefix starts the environment variable of every flag: --batch-idle-duration is also read
// from VPSIE_AUTOSCALER_BATCH_IDLE_DURATION. A flag given on the command line wins over its
// variable.
const EnvPrefix = "VPSIE_AUTOSCALER_"

// Log levels and formats accepted by --log-level and --log-format.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "console"}
)

// Options are the settings of the vpsie-autoscaler binary. Every field but LogOutput is a flag.
type Options struct {
	Kubeconfig      string
	KubeClientQPS   float64
	KubeClientBurst int

	VPSieSecretName      string
	VPSieSecretNamespace string
	VPSieAPIRateLimit    float64
	VPSieAPIBurst        int

	ClusterID  string
	Datacenter string

	MetricsBindAddress     string
	HealthProbeBindAddress string

	LeaderElect             bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	GracefulShutdownTimeout time.Duration

	BatchIdleDuration            time.Duration
	BatchMaxDuration             time.Duration
	SolveDeadline                time.Duration
	SchedulerReplay              bool
	RegistrationTimeout          time.Duration
	BatchReleaseWindow           time.Duration
	TerminationGracePeriod       time.Duration
	GarbageCollectionGracePeriod time.Duration
	GarbageCollectionInterval    time.Duration

	LogLevel  string
	LogFormat string

	DryRun bool

	// LogOutput receives the logs (not a flag; default os.Stderr). Tests capture logs with it.
	LogOutput io.Writer
	// SkipControllerNameValidation (not a flag) lets one process start several operators in
	// turn (tests); controller names then repeat.
	SkipControllerNameValidation bool
}

// EnvName is the environment variable that backs a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// AddFlags registers every flag on fs, bound to o, with its default. The usage of each flag
// names its environment variable.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, def, withEnv(name, usage)) }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, withEnv(name, usage))
	}
	boolean := func(p *bool, name string, def bool, usage string) { fs.BoolVar(p, name, def, withEnv(name, usage)) }

	str(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty: in-cluster config, else $KUBECONFIG, else ~/.kube/config")
	fs.Float64Var(&o.KubeClientQPS, "kube-client-qps", 200, withEnv("kube-client-qps", "queries per second to the Kubernetes API server"))
	fs.IntVar(&o.KubeClientBurst, "kube-client-burst", 300, withEnv("kube-client-burst", "burst of queries to the Kubernetes API server"))

	str(&o.VPSieSecretName, "vpsie-secret-name", "vpsie-credentials", "Secret with the VPSie credentials: key token, or keys clientId and clientSecret; optional key url (API base URL)")
	str(&o.VPSieSecretNamespace, "vpsie-secret-namespace", "kube-system", "namespace of the VPSie credentials Secret")
	fs.Float64Var(&o.VPSieAPIRateLimit, "vpsie-api-rate-limit", 300, withEnv("vpsie-api-rate-limit", "client-side limit of VPSie API requests per minute"))
	fs.IntVar(&o.VPSieAPIBurst, "vpsie-api-burst", 30, withEnv("vpsie-api-burst", "burst of VPSie API requests above the rate limit"))

	str(&o.ClusterID, "cluster-id", "", "VPSie managed-Kubernetes cluster identifier (required)")
	str(&o.Datacenter, "datacenter", "", "VPSie datacenter of the cluster, for NodeGroups that do not name one")

	str(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint; \"0\" disables it")
	str(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes; \"0\" disables them")

	boolean(&o.LeaderElect, "leader-elect", true, "elect a leader with a Lease; only the leader provisions and disrupts")
	str(&o.LeaderElectionID, "leader-election-id", "vpsie-autoscaler", "name of the leader election Lease")
	str(&o.LeaderElectionNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	dur(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", 30*time.Second, "how long running controllers get to stop after SIGTERM")

	dur(&o.BatchIdleDuration, "batch-idle-duration", time.Second, "provisioning: a batch of pending pods closes after this long without a new one")
	dur(&o.BatchMaxDuration, "batch-max-duration", 10*time.Second, "provisioning: a batch of pending pods closes after this long at most (>= --batch-idle-duration)")
	dur(&o.SolveDeadline, "solve-deadline", 10*time.Second, "provisioning: time limit of one scheduling simulation")
	boolean(&o.SchedulerReplay, "scheduler-replay", true, "provisioning: replay each plan the way kube-scheduler meets it and repair or replace a plan it would not follow; false launches plans as packed")
	dur(&o.RegistrationTimeout, "registration-timeout", 15*time.Minute, "a VPSieNode whose Node has not registered by then is deleted and its pods planned again")
	dur(&o.BatchReleaseWindow, "batch-release-window", 30*time.Second, "provisioning: the new nodes of one pass stay tainted (NoSchedule) until all of them are Ready, at most this long after the first one is; 0 releases each node as soon as it is Ready")
	dur(&o.TerminationGracePeriod, "termination-grace-period", time.Hour, "after this long in termination, pods that block draining (do-not-disrupt) are evicted anyway")
	dur(&o.GarbageCollectionGracePeriod, "gc-grace-period", 10*time.Minute, "a VPSie instance of ours with no VPSieNode is deleted after this long")
	dur(&o.GarbageCollectionInterval, "gc-interval", time.Minute, "how often garbage collection compares VPSie instances with VPSieNodes")

	str(&o.LogLevel, "log-level", "info", "log level: "+strings.Join(LogLevels, ", "))
	str(&o.LogFormat, "log-format", "json", "log format: "+strings.Join(LogFormats, ", "))

	boolean(&o.DryRun, "dry-run", false, "plan, log and emit events, but launch and delete nothing")
}

func withEnv(name, usage string) string { return usage + " [$" + EnvName(name) + "]" }

// Parse reads the options from args, falling back to the environment (getenv, usually
// os.Getenv) for every flag not on the command line, and validates them. It returns
// flag.ErrHelp for -h/--help: print Usage and exit 0.
func Parse(args []string, getenv func(string) string) (*Options, error) {
	o := &Options{}
	fs := newFlagSet(o)
	var errs error
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvName(f.Name)
		if v, ok := lookup(getenv, env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = multierr.Append(errs, fmt.Errorf("$%s (--%s): invalid value %q, %w", env, f.Name, v, unwrapFlagErr(err)))
			}
		}
	})
	if errs != nil {
		return nil, errs
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: every setting is a --flag", fs.Args())
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		return "", false
	}
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// unwrapFlagErr keeps the flag package's own messages short ("parse error" wrappers).
func unwrapFlagErr(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func newFlagSet(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("vpsie-autoscaler", flag.ContinueOnError)
	// Parse reports errors itself; the caller prints Usage for --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o.AddFlags(fs)
	return fs
}

// Usage writes the --help text: every flag with its default and environment variable.
func Usage(w io.Writer) {
	fs := newFlagSet(&Options{})
	fmt.Fprintf(w, "vpsie-autoscaler: node autoscaler for Kubernetes clusters on VPSie.\n\n")
	fmt.Fprintf(w, "Usage: vpsie-autoscaler [flags]\n\n")
	fmt.Fprintf(w, "Every flag can also be set with the environment variable shown in brackets\n")
	fmt.Fprintf(w, "(%s<FLAG_NAME>); a flag on the command line wins.\n\nFlags:\n", EnvPrefix)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintln(w, line)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "      %s\n", usage)
	})
}

// Validate reports every invalid option at once; each error names its flag.
func (o *Options) Validate() error {
	var errs error
	add := func(flagName, format string, args ...any) {
		errs = multierr.Append(errs, fmt.Errorf("--"+flagName+": "+format, args...))
	}
	if o.KubeClientQPS <= 0 {
		add("kube-client-qps", "must be positive, got %g", o.KubeClientQPS)
	}
	if o.KubeClientBurst <= 0 {
		add("kube-client-burst", "must be positive, got %d", o.KubeClientBurst)
	}
	if o.VPSieAPIRateLimit <= 0 {
		add("vpsie-api-rate-limit", "must be positive, got %g", o.VPSieAPIRateLimit)
	}
	if o.VPSieAPIBurst <= 0 {
		add("vpsie-api-burst", "must be positive, got %d", o.VPSieAPIBurst)
	}
	for _, e := range validation.IsDNS1123Subdomain(o.VPSieSecretName) {
		add("vpsie-secret-name", "%q is not a valid Secret name: %s", o.VPSieSecretName, e)
	}
	for _, e := range validation.IsDNS1123Label(o.VPSieSecretNamespace) {
		add("vpsie-secret-namespace", "%q is not a valid namespace: %s", o.VPSieSecretNamespace, e)
	}
	if strings.TrimSpace(o.ClusterID) == "" {
		add("cluster-id", "is required (the VPSie managed-Kubernetes cluster identifier)")
	}
	if err := validBindAddress(o.MetricsBindAddress); err != nil {
		add("metrics-bind-address", "%v", err)
	}
	if err := validBindAddress(o.HealthProbeBindAddress); err != nil {
		add("health-probe-bind-address", "%v", err)
	}
	if o.LeaderElect {
		for _, e := range validation.IsDNS1123Subdomain(o.LeaderElectionID) {
			add("leader-election-id", "%q is not a valid Lease name: %s", o.LeaderElectionID, e)
		}
		for _, e := range validation.IsDNS1123Label(o.LeaderElectionNamespace) {
			add("leader-election-namespace", "%q is not a valid namespace: %s", o.LeaderElectionNamespace, e)
		}
	}
	if o.GracefulShutdownTimeout < 0 {
		add("graceful-shutdown-timeout", "must not be negative, got %s", o.GracefulShutdownTimeout)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"batch-idle-duration", o.BatchIdleDuration},
		{"batch-max-duration", o.BatchMaxDuration},
		{"solve-deadline", o.SolveDeadline},
		{"registration-timeout", o.RegistrationTimeout},
		{"termination-grace-period", o.TerminationGracePeriod},
		{"gc-grace-period", o.GarbageCollectionGracePeriod},
		{"gc-interval", o.GarbageCollectionInterval},
	} {
		if d.v <= 0 {
			add(d.flag, "must be positive, got %s", d.v)
		}
	}
	if o.BatchReleaseWindow < 0 {
		add("batch-release-window", "must not be negative (0 disables it), got %s", o.BatchReleaseWindow)
	}
	if o.BatchIdleDuration > 0 && o.BatchMaxDuration > 0 && o.BatchIdleDuration > o.BatchMaxDuration {
		add("batch-idle-duration", "%s must not exceed --batch-max-duration %s", o.BatchIdleDuration, o.BatchMaxDuration)
	}
	if !slices.Contains(LogLevels, o.LogLevel) {
		add("log-level", "must be one of %s, got %q", strings.Join(LogLevels, ", "), o.LogLevel)
	}
	if !slices.Contains(LogFormats, o.LogFormat) {
		add("log-format", "must be one of %s, got %q", strings.Join(LogFormats, ", "), o.LogFormat)
	}
	return errs
}

// validBindAddress accepts "0" (disabled) or host:port with a numeric port.
func validBindAddress(addr string) error {
	if addr == "0" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (or \"0\" to disable), %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port %q", addr, port)
	}
	return nil
}

// ControllerOptions are the controllers' settings taken from o.
func (o *Options) ControllerOptions() controllers.Options {
	return controllers.Options{
		ClusterID:                    o.ClusterID,
		Datacenter:                   o.Datacenter,
		DryRun:                       o.DryRun,
		BatchIdle:                    o.BatchIdleDuration,
		BatchMax:                     o.BatchMaxDuration,
		SolveDeadline:                o.SolveDeadline,
		SkipReplay:                   !o.SchedulerReplay,
		RegistrationTimeout:          o.RegistrationTimeout,
		BatchReleaseWindow:           o.BatchReleaseWindow,
		TerminationGracePeriod:       o.TerminationGracePeriod,
		GarbageCollectionGracePeriod: o.GarbageCollectionGracePeriod,
		GarbageCollectionInterval:    o.GarbageCollectionInterval,
	}
}
