// Package redistest starts private, real redis-server processes for tests.
//
// The binary comes from $REDIS_SERVER or PATH. A missing binary fails the
// test: Redis behaviour is what these tests are about, so skipping would hide
// a broken setup.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points tests at an existing Redis instead
// of a private one (see URLFromEnv).
const EnvURL = "BRIDGE_TEST_REDIS_URL"

// Option changes how a server is started.
type Option func(*options)

type options struct {
	appendOnly bool
	args       []string
}

// AppendOnly turns on the AOF with fsync on every write, so data survives
// Kill followed by Restart.
func AppendOnly() Option { return func(o *options) { o.appendOnly = true } }

// Args adds raw redis-server arguments, e.g. "--maxmemory", "10mb".
func Args(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Server is one redis-server process bound to 127.0.0.1.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	args []string
	// confFile, when set, is passed first (sentinel needs a config file).
	confFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a private redis-server in tb.TempDir() on a free loopback
// port, waits until it answers PING and kills it at cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	s := &Server{tb: tb, bin: binary(tb, "REDIS_SERVER", "redis-server"), dir: tb.TempDir()}
	s.args = serverArgs(o)
	s.startOnFreePort()
	tb.Cleanup(s.Kill)
	return s
}

func serverArgs(o options) []string {
	args := []string{"--bind", "127.0.0.1", "--save", "", "--daemonize", "no", "--logfile", ""}
	if o.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, o.args...)
}

// startOnFreePort retries because the free port we pick can be taken by
// someone else before redis-server binds it.
func (s *Server) startOnFreePort() {
	s.tb.Helper()
	var err error
	for range 5 {
		s.port = freePort(s.tb)
		if err = s.start(); err == nil {
			return
		}
	}
	s.tb.Fatalf("redistest: start redis-server: %v", err)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	args := append([]string{"--port", strconv.Itoa(s.port), "--dir", s.dir}, s.args...)
	if s.confFile != "" {
		args = append([]string{s.confFile}, args...)
	}
	cmd := exec.Command(s.bin, args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitPing(s.Addr(), done, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w; log tail:\n%s", err, s.logTail())
	}
	s.cmd, s.done = cmd, done
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is redis://host:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's working directory (AOF and logs).
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down gracefully (SIGTERM; the AOF is flushed).
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crashed host would.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart stops the server if it runs and starts it again on the same port
// and directory, so an AOF written before survives.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	var err error
	// The old socket can linger briefly; retry the bind.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart redis-server on %s: %v", s.Addr(), err)
}

// Client returns a client for this server, closed at cleanup.
func (s *Server) Client(tb testing.TB) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr:         s.Addr(),
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// URLFromEnv returns $BRIDGE_TEST_REDIS_URL when set, else the URL of a
// private server started for tb. Tests using it must pick key names that
// cannot clash with other tests sharing the same Redis.
func URLFromEnv(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return Start(tb).URL()
}

// Sentinel is one redis-sentinel process watching a master.
type Sentinel struct {
	*Server
	Master string // the monitored master's name
}

// StartSentinel starts a sentinel that monitors master under the name
// masterName (quorum 1).
func StartSentinel(tb testing.TB, master *Server, masterName string) *Sentinel {
	tb.Helper()
	s := &Server{tb: tb, bin: binary(tb, "REDIS_SERVER", "redis-server"), dir: tb.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	// Sentinel rewrites its config file, so it must be a writable file.
	body := fmt.Sprintf("bind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 1\n", masterName, master.port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatalf("redistest: write sentinel.conf: %v", err)
	}
	s.confFile = conf
	s.args = []string{"--sentinel", "--daemonize", "no", "--logfile", ""}
	s.startOnFreePort()
	tb.Cleanup(s.Kill)
	return &Sentinel{Server: s, Master: masterName}
}

// URL is the redis+sentinel:// form that connector/redis.Open accepts.
func (s *Sentinel) URL() string { return "redis+sentinel://" + s.Addr() + "/" + s.Master }

// Cluster is a local Redis Cluster of n masters without replicas.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n cluster-enabled servers, splits the 16384 slots
// between them, joins them and waits until every node reports
// cluster_state:ok and sees every slot covered.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("redistest: cluster needs at least one node, got %d", n)
	}
	cl := &Cluster{}
	for range n {
		cl.Servers = append(cl.Servers, Start(tb, Args(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const slots = 16384
	for i, s := range cl.Servers {
		c := s.Client(tb)
		lo, hi := i*slots/n, (i+1)*slots/n-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			tb.Fatalf("redistest: cluster addslotsrange on %s: %v", s.Addr(), err)
		}
		if i > 0 {
			if err := c.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(cl.Servers[0].port)).Err(); err != nil {
				tb.Fatalf("redistest: cluster meet from %s: %v", s.Addr(), err)
			}
		}
	}
	for _, s := range cl.Servers {
		c := s.Client(tb)
		for {
			if clusterReady(ctx, c, n) {
				break
			}
			if ctx.Err() != nil {
				info, _ := c.ClusterInfo(context.Background()).Result()
				tb.Fatalf("redistest: cluster on %s not ready: %s", s.Addr(), info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return cl
}

func clusterReady(ctx context.Context, c *goredis.Client, n int) bool {
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") ||
		!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
		return false
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return false
	}
	covered := 0
	for _, r := range slots {
		covered += int(r.End-r.Start) + 1
	}
	return covered == 16384
}

// Addrs lists the nodes' host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr()
	}
	return out
}

// URL is the redis+cluster:// form that connector/redis.Open accepts.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Client returns a cluster client, closed at cleanup.
func (c *Cluster) Client(tb testing.TB) *goredis.ClusterClient {
	tb.Helper()
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), DialTimeout: time.Second})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

func binary(tb testing.TB, env, name string) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("redistest: %s not found on PATH and $%s is unset; install redis-server (apt-get install redis-server)", name, env)
	}
	return p
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPing polls with a raw PING so this package needs no client options.
func waitPing(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return errors.New("redis-server exited during start")
		default:
		}
		if ping(addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PING answer on %s within %s", addr, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// NOAUTH also proves the server is up (started with --requirepass).
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
