// Command vpsie-autoscaler is the node autoscaler for Kubernetes clusters on VPSie: it reads its
// flags (or VPSIE_AUTOSCALER_* variables), builds the operator (manager, VPSie client, cloud
// provider), registers the controllers and runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/operator"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, ctrl.SetupSignalHandler))
}

// run returns the exit code. The signal context is built only once the options are valid, so
// --help and usage errors never install signal handlers.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, signalContext func() context.Context) int {
	opts, err := operator.Parse(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		operator.Usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "vpsie-autoscaler: %v\nRun vpsie-autoscaler --help for the flags.\n", err)
		return exitUsage
	}
	if err := start(signalContext(), opts); err != nil {
		fmt.Fprintf(stderr, "vpsie-autoscaler: %v\n", err)
		return exitError
	}
	return exitOK
}

func start(ctx context.Context, opts *operator.Options) error {
	restConfig, err := operator.RESTConfig(opts.Kubeconfig)
	if err != nil {
		return err
	}
	op, err := operator.NewOperator(ctx, restConfig, opts)
	if err != nil {
		return fmt.Errorf("building operator, %w", err)
	}
	checks, err := controllers.Register(ctx, controllers.Deps{
		Manager:       op.Manager,
		CloudProvider: op.CloudProvider,
		Clock:         op.Clock,
		Options:       opts.ControllerOptions(),
	})
	if err != nil {
		return fmt.Errorf("registering controllers, %w", err)
	}
	if err := op.AddReadyzChecks(checks); err != nil {
		return err
	}
	return op.Start(ctx)
}
