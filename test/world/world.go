// Package world starts what the load program and the benchmarks drive: the
// Salesforce and Twilio stand-ins, a redis-server on a loopback port and
// `bridge serve` processes configured as the e2e harness configures them.
// Unlike test/e2e it needs no testing.TB, so a plain program can use it.
package world

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// PublicURL is the base the bridges sign Twilio webhooks against; the load
// posts to the real listeners, as a load balancer would.
const PublicURL = "https://bridge.cityhealth.test"

// OrgID is the org of the Outbound Messages the load sends.
const OrgID = "00DRM000000AbCD2AY"

// JWTSecret signs agent tokens for the bridges the world starts.
const JWTSecret = "load-jwt-secret-0123456789abcdef0123456789"

// AccountSID is the account the load's TaskRouter events name; the world's
// Twilio stand-in is started with it (the bridge refuses another account's).
const AccountSID = "AC5ef8732a3c49700934481addd5ce1659"

// OutboundToken is BRIDGE_SF_OUTBOUND_TOKEN; OutboundPath carries it.
const OutboundToken = "load-outbound-token-0123456789abcdef0123"

// ProtectedFields is BRIDGE_PROTECTED_FIELDS.
const ProtectedFields = "Index_Case_Name__c,Source_Case__c"

// CallerID is BRIDGE_TWILIO_CALLER_ID.
const CallerID = "+12125550100"

// Root is the module's directory (for go build and the e2e testdata).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// MappingFile is the e2e harness's mapping document.
func MappingFile() string { return filepath.Join(Root(), "test", "e2e", "testdata", "mapping.yaml") }

// Env is a bridge's whole configuration for the stand-ins and a Redis URL.
// dir receives the Salesforce key file.
func Env(dir string, sf *sfsim.Server, tw *twiliosim.Server, redisURL string) (map[string]string, error) {
	keyFile := filepath.Join(dir, "sf.pem")
	if err := os.WriteFile(keyFile, sf.PrivateKeyPEM(), 0o600); err != nil {
		return nil, err
	}
	return map[string]string{
		"BRIDGE_ADDR":                         "127.0.0.1:0",
		"BRIDGE_PUBLIC_URL":                   PublicURL,
		"BRIDGE_REDIS_URL":                    redisURL,
		"BRIDGE_MAPPING_FILE":                 MappingFile(),
		"BRIDGE_SF_LOGIN_URL":                 sf.URL,
		"BRIDGE_SF_CLIENT_ID":                 sf.ClientID,
		"BRIDGE_SF_USERNAME":                  sf.Username,
		"BRIDGE_SF_PRIVATE_KEY_FILE":          keyFile,
		"BRIDGE_SF_ORG_ID":                    sf.OrgID,
		"BRIDGE_SF_OUTBOUND_TOKEN":            OutboundToken,
		"BRIDGE_PROTECTED_FIELDS":             ProtectedFields,
		"BRIDGE_TWILIO_ACCOUNT_SID":           tw.AccountSID,
		"BRIDGE_TWILIO_AUTH_TOKEN":            tw.AuthToken,
		"BRIDGE_TWILIO_WORKSPACE_SID":         tw.WorkspaceSID,
		"BRIDGE_TWILIO_WORKFLOW_SID":          tw.WorkflowSID,
		"BRIDGE_TWILIO_MESSAGING_SERVICE_SID": tw.MessagingServiceSID,
		"BRIDGE_TWILIO_CALLER_ID":             CallerID,
		"BRIDGE_TWILIO_API_URL":               tw.URL,
		"BRIDGE_JWT_SECRET":                   JWTSecret,
		"BRIDGE_SURVEY_SECRET":                "load-survey-secret-0123456789abcdef012345",
		"BRIDGE_LOG_LEVEL":                    "info",
	}, nil
}

// Redis is a redis-server process on a free loopback port.
type Redis struct {
	Port int
	Dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server ($REDIS_SERVER or PATH) in dir. appendOnly
// turns on the AOF with fsync on every write, so a restart loses nothing.
func StartRedis(dir string, appendOnly bool) (*Redis, error) {
	r := &Redis{Dir: dir, args: []string{"--bind", "127.0.0.1", "--save", "", "--daemonize", "no", "--logfile", ""}}
	if appendOnly {
		r.args = append(r.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		r.args = append(r.args, "--appendonly", "no")
	}
	var err error
	for range 5 { // the free port can be taken before redis-server binds it
		if r.Port, err = FreePort(); err != nil {
			return nil, err
		}
		if err = r.start(); err == nil {
			return r, nil
		}
	}
	return nil, err
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	bin := os.Getenv("REDIS_SERVER")
	if bin == "" {
		bin = "redis-server"
	}
	logf, err := os.OpenFile(filepath.Join(r.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(r.Port), "--dir", r.Dir}, r.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = orphanGuard()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		err := c.Ping(context.Background()).Err()
		_ = c.Close()
		if err == nil {
			break
		}
		select {
		case <-done:
			return errors.New("redis-server exited during start")
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on %s did not answer PING: %v", r.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd, r.done = cmd, done
	return nil
}

// Addr is host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// URL is redis://host:port/0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Stop ends the server with SIGTERM (the AOF is flushed).
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// Restart stops the server and starts it on the same port and directory.
func (r *Redis) Restart() error {
	r.Stop()
	var err error
	for range 50 { // the old socket may linger a moment
		if err = r.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Client is a client for this server; the caller closes it.
func (r *Redis) Client() *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: r.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

// FreePort finds a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Build compiles ./cmd/bridge into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "bridge")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bridge")
	cmd.Dir = Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bridge: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is one `bridge serve`. Its log goes to a file in the world's dir.
type Process struct {
	Name string // BRIDGE_INSTANCE_ID; a restart keeps it, so it resumes its own work
	URL  string

	bin     string
	env     map[string]string
	logPath string
	cmd     *exec.Cmd
	out     chan struct{}
	peakKB  int64 // VmHWM of earlier incarnations (a restart resets it)
}

// StartProcess runs bin serve with env and the instance name and waits
// until it listens.
// The port is fixed at the first start, so a restarted process is found at
// the same address, as behind a load balancer.
func StartProcess(bin, name, logDir string, env map[string]string) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for k, v := range env {
		own[k] = v
	}
	own["BRIDGE_ADDR"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := &Process{Name: name, bin: bin, env: own, logPath: filepath.Join(logDir, name+".log")}
	return p, p.Start()
}

// Start (re)starts the process.
func (p *Process) Start() error {
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = append(os.Environ(), "BRIDGE_INSTANCE_ID="+p.Name)
	cmd.SysProcAttr = orphanGuard()
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	addr := make(chan string, 1)
	p.cmd, p.out = cmd, make(chan struct{})
	go func() {
		defer close(p.out)
		defer logf.Close()
		FollowLog(stderr, logf, addr)
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return nil
	case <-time.After(20 * time.Second):
		p.Kill()
		return fmt.Errorf("bridge %s did not start within 20 s; see %s", p.Name, p.logPath)
	}
}

// Pid is the running process's id (0 when stopped).
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// PeakRSSKB is the highest VmHWM seen over every incarnation, in KiB.
func (p *Process) PeakRSSKB() int64 {
	if kb := VmHWM(p.Pid()); kb > p.peakKB {
		return kb
	}
	return p.peakKB
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	p.peakKB = p.PeakRSSKB()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
	<-p.out
	p.cmd = nil
}

// Terminate sends SIGTERM and waits for the drain.
func (p *Process) Terminate() {
	if p.cmd == nil {
		return
	}
	p.peakKB = p.PeakRSSKB()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = p.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	<-p.out
	p.cmd = nil
}

// VmHWM reads a process's peak resident set size in KiB (0 if unknown).
func VmHWM(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// Backlog sums what the bridge's queues still hold (waiting, pending,
// retrying); an error means Redis could not be read.
func Backlog(ctx context.Context, c goredis.UniversalClient) (int64, error) {
	var n int64
	for _, name := range []string{event.QueueRecords, event.QueueMonitoring, event.QueueWriteback, event.QueueSelfReport, event.QueueEscalation} {
		q, err := redis.NewQueue(c, redis.QueueConfig{Name: name})
		if err != nil {
			return 0, err
		}
		st, err := q.Stats(ctx)
		if err != nil {
			return 0, err
		}
		n += st.Length + st.Pending + st.Retrying
	}
	return n, nil
}

// orphanGuard kills a child when the program that started it dies, so an
// interrupted run leaves no redis-server or bridge behind (Linux).
func orphanGuard() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// FollowLog copies a `bridge serve` JSON log from r to w, line by line, and
// sends the listen address on started when the "bridge started" line
// passes. It returns when r ends.
func FollowLog(r io.Reader, w io.Writer, started chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(append([]byte(nil), line...), '\n'))
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "bridge started" {
			select {
			case started <- rec.Addr:
			default:
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}
