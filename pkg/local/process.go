package local

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// process is one child the launcher started; its output goes to <dir>/logs/<name>.log.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProcess runs bin with args in its own process group, so that stopping it also stops
// anything it forked and a Ctrl-C in the terminal reaches only the launcher, which then stops
// the children in order. A detached child outlives the launcher (`demo --keep`); `down` stops it.
func startProcess(name, logDir, bin string, args []string, detach bool) (*process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log dir, %w", err)
	}
	f, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log, %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !detach {
		// a launcher killed without a chance to clean up takes its children with it
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s, %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id (and process group id).
func (p *process) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has stopped, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if done, _ := p.exited(); done {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
	// a child that outlived its leader still belongs to the group
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
}

// Alive reports whether a process with this pid exists and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// state is the field after the parenthesised command name
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == ')' && i+2 < len(data) {
			return data[i+2] != 'Z' && data[i+2] != 'X'
		}
	}
	return true
}

// freePorts asks the kernel for n distinct free loopback ports. They are released before the
// children bind them, so another process could take one in between; on loopback in a test
// machine that race is rare, and a child failing to bind shows up as a readiness failure.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port, %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// stopOrder is the order children are stopped in: the reverse of their start.
var stopOrder = []string{"vpsie-autoscaler", "vpsie-emulator", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

// StopPids stops the process groups of a state file's children that outlived their launcher:
// SIGTERM in reverse start order, SIGKILL for any still there after the grace period.
func StopPids(pids map[string]int, w io.Writer) error {
	names := append([]string{}, stopOrder...)
	for n := range pids {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		pid, ok := pids[n]
		if !ok || !Alive(pid) {
			continue
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		deadline := time.Now().Add(stopGrace)
		for Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		fmt.Fprintf(w, "stopped %s (pid %d)\n", n, pid)
	}
	var errs []error
	for n, pid := range pids {
		for i := 0; i < 50 && Alive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if Alive(pid) {
			errs = append(errs, fmt.Errorf("%s (pid %d) still running", n, pid))
		}
	}
	return errors.Join(errs...)
}
