package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/world"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// BridgeBinary builds ./cmd/bridge once per test binary.
func BridgeBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "bridge-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "bridge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/bridge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/bridge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// Process is `bridge serve` as its own process, so a test can kill -9 it.
type Process struct {
	*Bridge
	env map[string]string
	cmd *exec.Cmd
	out chan struct{}
}

// StartProcess starts `bridge serve` against the world in opts (stand-ins
// and Redis are created when missing). The instance id is fixed, so a
// restart resumes the work the killed process held.
func StartProcess(tb testing.TB, opts Options) *Process {
	tb.Helper()
	b := MustStart(tb, opts) // the in-process bridge sets up the world and its tokens
	b.Stop()
	env := b.env()
	env["BRIDGE_INSTANCE_ID"] = b.opts.Consumer
	p := &Process{Bridge: b, env: env}
	p.Start()
	tb.Cleanup(p.Kill)
	return p
}

// Start runs the process and waits until it listens.
func (p *Process) Start() {
	tb := p.tb
	tb.Helper()
	cmd := exec.Command(BridgeBinary(tb), "serve")
	cmd.Env = os.Environ()
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p.cmd = cmd
	addr := make(chan string, 1)
	p.out = make(chan struct{})
	go func() {
		defer close(p.out)
		world.FollowLog(stderr, p.Log, addr)
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-time.After(20 * time.Second):
		tb.Fatal("bridge serve did not start within 20 s")
	}
}

// Kill sends SIGKILL: no drain, no goodbye.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
	<-p.out
	p.cmd = nil
}

// Terminate sends SIGTERM and waits for the drain.
func (p *Process) Terminate() error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	<-p.out
	p.cmd = nil
	return err
}
