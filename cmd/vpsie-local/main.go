// Command vpsie-local runs the built-in local environment (see pkg/local) and the demo on it.
//
//	vpsie-local up   [--dir D] [--bin-dir B]   start, install the chart, run the autoscaler; stop on Ctrl-C/SIGTERM
//	vpsie-local down [--dir D]                 stop the environment an `up` in D started
//	vpsie-local demo [--keep] [--bin-dir B]    start, run the scripted scenario, print the summary, stop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/local"
)

// DefaultDir is where `up` keeps its state when --dir is not given, so `down` finds it.
var DefaultDir = filepath.Join(os.TempDir(), "vpsie-local")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "vpsie-local:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: vpsie-local up|down|demo [flags]   (vpsie-local <command> -h for its flags)`)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command")
	}
	fs := flag.NewFlagSet("vpsie-local "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "state directory (default "+DefaultDir+" for up/down, a temp dir for demo)")
	binDir := fs.String("bin-dir", "", "directory with vpsie-autoscaler and vpsie-emulator (default: build them)")
	bootDelay := fs.Duration("boot-delay", 3*time.Second, "emulated VM boot time")
	switch args[0] {
	case "up":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return up(ctx, orDefault(*dir), *binDir, *bootDelay, stdout)
	case "down":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return down(orDefault(*dir), stdout)
	case "demo":
		keep := fs.Bool("keep", false, "leave the cluster running after the scenario (stop it with `vpsie-local down --dir ...`)")
		plain := fs.Bool("plain", false, "plain progress lines even on a terminal")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return demo(ctx, demoOptions{dir: *dir, binDir: *binDir, bootDelay: *bootDelay, keep: *keep, plain: *plain}, stdout)
	case "-h", "--help", "help":
		usage(stdout)
		return flag.ErrHelp
	default:
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func orDefault(dir string) string {
	if dir == "" {
		return DefaultDir
	}
	return dir
}

// bringUp starts the environment, installs the chart and starts the autoscaler as its
// ServiceAccount.
func bringUp(ctx context.Context, opts local.Options, progress io.Writer) (*local.Cluster, error) {
	c, err := local.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := c.InstallChart(ctx); err != nil {
		return nil, fmt.Errorf("installing the chart, %w", multierrStop(err, c))
	}
	fmt.Fprintf(progress, "%-58s %5.1fs\n", "installing the Helm chart (CRDs, RBAC, Deployment)", time.Since(start).Seconds())
	start = time.Now()
	if err := c.StartAutoscaler(ctx); err != nil {
		return nil, fmt.Errorf("starting the autoscaler, %w", multierrStop(err, c))
	}
	fmt.Fprintf(progress, "%-58s %5.1fs\n", "starting the autoscaler as the chart's ServiceAccount", time.Since(start).Seconds())
	return c, nil
}

func multierrStop(err error, c *local.Cluster) error {
	if serr := c.Stop(); serr != nil {
		return fmt.Errorf("%w (and stopping: %w)", err, serr)
	}
	return err
}

func up(ctx context.Context, dir, binDir string, bootDelay time.Duration, stdout io.Writer) error {
	if st, err := local.ReadState(dir); err == nil && local.Alive(st.LauncherPid) {
		return fmt.Errorf("a local cluster is already running from %s (pid %d); run `vpsie-local down --dir %s` first", dir, st.LauncherPid, dir)
	}
	_ = os.RemoveAll(dir)
	c, err := bringUp(ctx, local.Options{Dir: dir, BinDir: binDir, BootDelay: bootDelay, Progress: stdout}, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "local cluster up; logs in %s\nexport KUBECONFIG=%s\n", filepath.Join(dir, "logs"), c.Kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping the local cluster")
	return c.Stop()
}

func down(dir string, stdout io.Writer) error {
	st, err := local.ReadState(dir)
	if err != nil {
		return fmt.Errorf("no local cluster state in %s, %w", dir, err)
	}
	if !local.Alive(st.LauncherPid) {
		// `demo --keep` (or a launcher that died): stop the children here
		return local.StopPids(st.Pids, stdout)
	}
	if err := syscall.Kill(st.LauncherPid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signalling the launcher (pid %d), %w", st.LauncherPid, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for local.Alive(st.LauncherPid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("launcher (pid %d) still running after 2m", st.LauncherPid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, pid := range st.Pids {
		if local.Alive(pid) {
			return fmt.Errorf("%s (pid %d) still running", name, pid)
		}
	}
	fmt.Fprintln(stdout, "local cluster stopped")
	return nil
}
