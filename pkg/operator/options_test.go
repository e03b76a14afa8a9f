package operator

import (
	"bytes"
	"errors"
	"flag"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/multierr"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func validOptions() *Options {
	o, err := Parse([]string{"--cluster-id=c1"}, nil)
	Expect(err).NotTo(HaveOccurred())
	return o
}

var _ = Describe("Options", func() {
	It("has the documented defaults", func() {
		o := validOptions()
		Expect(*o).To(Equal(Options{
			KubeClientQPS:                200,
			KubeClientBurst:              300,
			VPSieSecretName:              "vpsie-credentials",
			VPSieSecretNamespace:         "kube-system",
			VPSieAPIRateLimit:            300,
			VPSieAPIBurst:                30,
			ClusterID:                    "c1",
			MetricsBindAddress:           ":8080",
			HealthProbeBindAddress:       ":8081",
			LeaderElect:                  true,
			LeaderElectionID:             "vpsie-autoscaler",
			LeaderElectionNamespace:      "kube-system",
			GracefulShutdownTimeout:      30 * time.Second,
			BatchIdleDuration:            time.Second,
			BatchMaxDuration:             10 * time.Second,
			SolveDeadline:                10 * time.Second,
			SchedulerReplay:              true,
			RegistrationTimeout:          15 * time.Minute,
			BatchReleaseWindow:           30 * time.Second,
			TerminationGracePeriod:       time.Hour,
			GarbageCollectionGracePeriod: 10 * time.Minute,
			GarbageCollectionInterval:    time.Minute,
			LogLevel:                     "info",
			LogFormat:                    "json",
		}))
	})

	It("falls back to the environment", func() {
		o, err := Parse(nil, envOf(map[string]string{
			"VPSIE_AUTOSCALER_CLUSTER_ID":          "from-env",
			"VPSIE_AUTOSCALER_BATCH_IDLE_DURATION": "2s",
			"VPSIE_AUTOSCALER_LEADER_ELECT":        "false",
			"VPSIE_AUTOSCALER_DRY_RUN":             "true",
			"VPSIE_AUTOSCALER_LOG_FORMAT":          "console",
			"VPSIE_AUTOSCALER_KUBE_CLIENT_BURST":   "7",
			"VPSIE_AUTOSCALER_GC_GRACE_PERIOD":     "1m",
		}))
		Expect(err).NotTo(HaveOccurred())
		Expect(o.ClusterID).To(Equal("from-env"))
		Expect(o.BatchIdleDuration).To(Equal(2 * time.Second))
		Expect(o.LeaderElect).To(BeFalse())
		Expect(o.DryRun).To(BeTrue())
		Expect(o.LogFormat).To(Equal("console"))
		Expect(o.KubeClientBurst).To(Equal(7))
		Expect(o.GarbageCollectionGracePeriod).To(Equal(time.Minute))
	})

	It("lets a flag beat its environment variable", func() {
		o, err := Parse([]string{"--cluster-id", "from-flag", "--batch-idle-duration=3s", "--leader-elect=true"}, envOf(map[string]string{
			"VPSIE_AUTOSCALER_CLUSTER_ID":          "from-env",
			"VPSIE_AUTOSCALER_BATCH_IDLE_DURATION": "2s",
			"VPSIE_AUTOSCALER_LEADER_ELECT":        "false",
		}))
		Expect(err).NotTo(HaveOccurred())
		Expect(o.ClusterID).To(Equal("from-flag"))
		Expect(o.BatchIdleDuration).To(Equal(3 * time.Second))
		Expect(o.LeaderElect).To(BeTrue())
	})

	It("names the variable and the flag of a bad environment value", func() {
		_, err := Parse([]string{"--cluster-id=c1"}, envOf(map[string]string{
			"VPSIE_AUTOSCALER_SOLVE_DEADLINE": "soon",
			"VPSIE_AUTOSCALER_DRY_RUN":        "maybe",
		}))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("$VPSIE_AUTOSCALER_SOLVE_DEADLINE (--solve-deadline)"))
		Expect(err.Error()).To(ContainSubstring("$VPSIE_AUTOSCALER_DRY_RUN (--dry-run)"))
	})

	It("rejects unknown flags and positional arguments", func() {
		_, err := Parse([]string{"--cluster-id=c1", "--no-such-flag"}, nil)
		Expect(err).To(MatchError(ContainSubstring("no-such-flag")))
		_, err = Parse([]string{"--cluster-id=c1", "extra"}, nil)
		Expect(err).To(MatchError(ContainSubstring("unexpected arguments")))
	})

	It("returns flag.ErrHelp for --help and -h", func() {
		for _, arg := range []string{"--help", "-h"} {
			_, err := Parse([]string{arg}, nil)
			Expect(errors.Is(err, flag.ErrHelp)).To(BeTrue(), arg)
		}
	})

	It("documents every flag with its environment variable in the help text", func() {
		var buf bytes.Buffer
		Usage(&buf)
		help := buf.String()
		n := 0
		newFlagSet(&Options{}).VisitAll(func(f *flag.Flag) {
			n++
			Expect(help).To(MatchRegexp(`(?m)^  --`+regexp.QuoteMeta(f.Name)+`( \w+)?$`), f.Name)
			Expect(help).To(ContainSubstring("[$"+EnvName(f.Name)+"]"), f.Name)
		})
		Expect(n).To(BeNumerically(">=", 22))
		Expect(help).To(ContainSubstring(`(default "1s")`))
		Expect(EnvName("batch-idle-duration")).To(Equal("VPSIE_AUTOSCALER_BATCH_IDLE_DURATION"))
	})

	DescribeTable("names the flag of every invalid value",
		func(flagName string, mutate func(*Options)) {
			o := validOptions()
			mutate(o)
			err := o.Validate()
			Expect(err).To(HaveOccurred())
			Expect(multierr.Errors(err)).To(HaveLen(1), err.Error())
			Expect(err.Error()).To(HavePrefix("--" + flagName + ": "))
		},
		Entry(nil, "cluster-id", func(o *Options) { o.ClusterID = " " }),
		Entry(nil, "kube-client-qps", func(o *Options) { o.KubeClientQPS = 0 }),
		Entry(nil, "kube-client-burst", func(o *Options) { o.KubeClientBurst = -1 }),
		Entry(nil, "vpsie-api-rate-limit", func(o *Options) { o.VPSieAPIRateLimit = 0 }),
		Entry(nil, "vpsie-api-burst", func(o *Options) { o.VPSieAPIBurst = -3 }),
		Entry(nil, "vpsie-secret-name", func(o *Options) { o.VPSieSecretName = "Bad_Name" }),
		Entry(nil, "vpsie-secret-namespace", func(o *Options) { o.VPSieSecretNamespace = "" }),
		Entry(nil, "metrics-bind-address", func(o *Options) { o.MetricsBindAddress = "8080" }),
		Entry(nil, "health-probe-bind-address", func(o *Options) { o.HealthProbeBindAddress = ":port" }),
		Entry(nil, "leader-election-id", func(o *Options) { o.LeaderElectionID = "" }),
		Entry(nil, "leader-election-namespace", func(o *Options) { o.LeaderElectionNamespace = "Kube System" }),
		Entry(nil, "graceful-shutdown-timeout", func(o *Options) { o.GracefulShutdownTimeout = -time.Second }),
		Entry(nil, "batch-idle-duration", func(o *Options) { o.BatchIdleDuration = 0 }),
		Entry("idle above max", "batch-idle-duration", func(o *Options) { o.BatchIdleDuration = time.Minute }),
		Entry(nil, "batch-max-duration", func(o *Options) { o.BatchMaxDuration = -time.Second }),
		Entry(nil, "solve-deadline", func(o *Options) { o.SolveDeadline = 0 }),
		Entry(nil, "registration-timeout", func(o *Options) { o.RegistrationTimeout = 0 }),
		Entry(nil, "batch-release-window", func(o *Options) { o.BatchReleaseWindow = -time.Second }),
		Entry(nil, "termination-grace-period", func(o *Options) { o.TerminationGracePeriod = 0 }),
		Entry(nil, "gc-grace-period", func(o *Options) { o.GarbageCollectionGracePeriod = 0 }),
		Entry(nil, "gc-interval", func(o *Options) { o.GarbageCollectionInterval = 0 }),
		Entry(nil, "log-level", func(o *Options) { o.LogLevel = "trace" }),
		Entry(nil, "log-format", func(o *Options) { o.LogFormat = "xml" }),
	)

	It("accepts disabled endpoints and ignores the lease settings without leader election", func() {
		o := validOptions()
		o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
		o.LeaderElect, o.LeaderElectionID = false, ""
		Expect(o.Validate()).To(Succeed())
	})

	It("reports every invalid value at once", func() {
		_, err := Parse([]string{"--log-level=loud", "--solve-deadline=0s"}, nil)
		Expect(err).To(HaveOccurred())
		msg := err.Error()
		for _, f := range []string{"--cluster-id", "--log-level", "--solve-deadline"} {
			Expect(msg).To(ContainSubstring(f))
		}
		Expect(multierr.Errors(err)).To(HaveLen(3))
	})

	It("maps onto the controllers' options", func() {
		o, err := Parse(strings.Fields("--cluster-id=c1 --datacenter=dc-hel1 --dry-run --batch-idle-duration=2s --batch-max-duration=20s --solve-deadline=5s --scheduler-replay=false --registration-timeout=5m --batch-release-window=45s --termination-grace-period=2h --gc-grace-period=3m --gc-interval=30s"), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(o.ControllerOptions()).To(Equal(controllers.Options{
			ClusterID:                    "c1",
			Datacenter:                   "dc-hel1",
			DryRun:                       true,
			BatchIdle:                    2 * time.Second,
			BatchMax:                     20 * time.Second,
			SolveDeadline:                5 * time.Second,
			SkipReplay:                   true,
			RegistrationTimeout:          5 * time.Minute,
			BatchReleaseWindow:           45 * time.Second,
			TerminationGracePeriod:       2 * time.Hour,
			GarbageCollectionGracePeriod: 3 * time.Minute,
			GarbageCollectionInterval:    30 * time.Second,
		}))
	})
})
