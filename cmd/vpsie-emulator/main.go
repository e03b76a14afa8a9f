// Command vpsie-emulator serves the VPSie API contract from memory on loopback, for local runs and
// end-to-end tests. Booted workers become Kubernetes Nodes (kwok-managed) when --kubeconfig is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "vpsie-emulator:", err)
		os.Exit(1)
	}
}

// options are the parsed flags beyond what emulator.Config holds.
type options struct {
	config     emulator.Config
	kubeconfig string
}

// listFlag collects repeatable, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("vpsie-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		clusters, tokens, unavailable  listFlag
		errorRates, latency            string
		o                              options
		c                              = &o.config
		bootDelay, tokenTTL, listDelay time.Duration
		addWorkerMode, datacenter      string
		seed                           uint64
	)
	fs.StringVar(&c.ListenAddress, "listen", "127.0.0.1:8090", "address to listen on (loopback only unless --allow-non-loopback)")
	fs.BoolVar(&c.AllowNonLoopback, "allow-non-loopback", false, "allow a listen address that is not loopback")
	fs.StringVar(&c.OfferingsFile, "offerings", "hack/examples/offerings.json", "catalogue file (JSON array of offerings)")
	fs.Var(&clusters, "cluster", "cluster identifier to serve (repeatable or comma list; default "+emulator.DefaultClusterID+")")
	fs.StringVar(&datacenter, "datacenter", emulator.DefaultDatacenter, "datacenter identifier of the clusters")
	fs.Var(&tokens, "token", "static access token accepted in Vpsie-Auth (repeatable); also read from $VPSIE_EMULATOR_TOKEN")
	fs.StringVar(&c.ClientID, "client-id", "", "client id accepted by the auth call")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "client secret accepted by the auth call; also read from $VPSIE_EMULATOR_CLIENT_SECRET")
	fs.StringVar(&c.AdminToken, "admin-token", "", "when set, /admin/ endpoints require it in X-Admin-Token")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster that receives a Node per booted worker (empty: no Nodes)")
	fs.DurationVar(&bootDelay, "boot-delay", 5*time.Second, "time a new worker or VM stays provisioning")
	fs.StringVar(&addWorkerMode, "add-worker-mode", emulator.AddWorkerSync, "answer of add-worker: sync (node id) or async (data: true)")
	fs.StringVar(&errorRates, "error-rate", "", "injected 500 rates, e.g. add-worker=0.1,*=0.01")
	fs.StringVar(&latency, "latency", "", "added latency: a duration for every call, or call=duration,... (e.g. add-worker=2s,*=50ms)")
	fs.IntVar(&c.Switches.RateLimit, "rate-limit-per-minute", 0, "answer 429 after this many calls per minute (0: off)")
	fs.IntVar(&c.Switches.MaxWorkers, "max-workers", 0, "quota of workers per cluster (0: unlimited)")
	fs.IntVar(&c.Switches.MaxVMs, "max-vms", 0, "quota of plain VMs (0: unlimited)")
	fs.Var(&unavailable, "unavailable-sizes", "size names or ids without capacity (comma list)")
	fs.DurationVar(&listDelay, "async-list-delay", 0, "in async mode, how long a new worker stays out of the cluster's node list")
	fs.BoolVar(&c.Switches.DeleteProvisioningConflict, "delete-provisioning-conflict", false, "answer 409 to deleting a worker that is still provisioning")
	fs.DurationVar(&tokenTTL, "token-ttl", emulator.DefaultTokenTTL, "lifetime of tokens issued by the auth call")
	fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", emulator.DefaultReconcileInterval, "period of the boot loop")
	fs.Uint64Var(&seed, "seed", 1, "seed of identifiers, tokens and injected errors")
	fs.StringVar(&c.HostnamePrefix, "hostname-prefix", emulator.DefaultHostnamePrefix, "prefix of worker hostnames (Node names)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := emulator.CheckListenAddress(c.ListenAddress, c.AllowNonLoopback); err != nil {
		return nil, err
	}
	if len(clusters) == 0 {
		clusters = listFlag{emulator.DefaultClusterID}
	}
	for _, id := range clusters {
		c.Clusters = append(c.Clusters, emulator.ClusterConfig{Identifier: id, Datacenter: datacenter})
	}
	if t := os.Getenv("VPSIE_EMULATOR_TOKEN"); t != "" {
		tokens = append(tokens, t)
	}
	c.Tokens = tokens
	if c.ClientSecret == "" {
		c.ClientSecret = os.Getenv("VPSIE_EMULATOR_CLIENT_SECRET")
	}
	c.Seed = seed
	c.Switches.BootDelay = emulator.Duration(bootDelay)
	c.Switches.AddWorkerMode = addWorkerMode
	c.Switches.TokenTTL = emulator.Duration(tokenTTL)
	c.Switches.AsyncListDelay = emulator.Duration(listDelay)
	c.Switches.UnavailableSizes = unavailable
	var err error
	if c.Switches.ErrorRates, err = parseErrorRates(errorRates); err != nil {
		return nil, err
	}
	if c.Switches.Latencies, err = parseLatencies(latency); err != nil {
		return nil, err
	}
	return &o, nil
}

// parseKeyValues splits "a=1,b=2" into pairs.
func parseKeyValues(flagName, v string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--%s: %q is not call=value", flagName, p)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

func parseErrorRates(v string) (map[string]float64, error) {
	kv, err := parseKeyValues("error-rate", v)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for k, s := range kv {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("--error-rate: %s=%q is not a number", k, s)
		}
		out[k] = f
	}
	return out, nil
}

func parseLatencies(v string) (map[string]emulator.Duration, error) {
	if v = strings.TrimSpace(v); v == "" {
		return nil, nil
	}
	if !strings.Contains(v, "=") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("--latency: %w", err)
		}
		return map[string]emulator.Duration{emulator.CallAll: emulator.Duration(d)}, nil
	}
	kv, err := parseKeyValues("latency", v)
	if err != nil {
		return nil, err
	}
	out := map[string]emulator.Duration{}
	for k, s := range kv {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("--latency: %s: %w", k, err)
		}
		out[k] = emulator.Duration(d)
	}
	return out, nil
}

// run serves until ctx ends. onReady, when set, receives the base URL once listening.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, onReady func(url string)) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := funcr.NewJSON(func(obj string) { _, _ = fmt.Fprintln(stderr, obj) }, funcr.Options{})
	o.config.Logger = log
	if o.config.Offerings, err = emulator.LoadOfferings(o.config.OfferingsFile); err != nil {
		return err
	}
	if o.kubeconfig != "" {
		restCfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return fmt.Errorf("loading kubeconfig, %w", err)
		}
		kc, err := kubernetes.NewForConfig(restCfg)
		if err != nil {
			return fmt.Errorf("building kubernetes client, %w", err)
		}
		o.config.KubeClient = kc
	}
	srv, err := emulator.New(o.config)
	if err != nil {
		return err
	}
	url, err := srv.Start(ctx)
	if err != nil {
		return err
	}
	logStartup(log, o, url)
	// The URL on stdout lets scripts capture it; the log line above carries it too.
	_, _ = fmt.Fprintln(stdout, url)
	if onReady != nil {
		onReady(url)
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stopping, %w", err)
	}
	log.Info("stopped")
	return nil
}

// logStartup says what is served without ever printing a token or secret.
func logStartup(log logr.Logger, o *options, url string) {
	ids := make([]string, 0, len(o.config.Clusters))
	for _, c := range o.config.Clusters {
		ids = append(ids, c.Identifier)
	}
	log.Info("serving", "url", url, "clusters", ids, "offerings", len(o.config.Offerings),
		"staticTokens", len(o.config.Tokens), "clientCredentials", o.config.ClientID != "",
		"kubernetes", o.kubeconfig != "", "switches", o.config.Switches)
}
