// Command load drives bridges with signed TaskRouter outcomes and Salesforce
// Outbound Messages over loopback and prints intake, latency, cost, memory
// and exactly-once figures. By default it starts the world itself (stand-ins,
// a redis-server, N `bridge serve` processes); with -url it drives bridges
// that already run. -soak adds faults. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/test/world"
)

type urlList []string

func (u *urlList) String() string     { return strings.Join(*u, ",") }
func (u *urlList) Set(v string) error { *u = append(*u, v); return nil }

type options struct {
	instances, rate, outcomes, records, batch, clients int
	duration, drain                                    time.Duration
	dup                                                float64
	soak                                               bool
	urls                                               urlList
	authToken, redisURL                                string
}

func main() {
	var o options
	flag.IntVar(&o.instances, "instances", 1, "bridge processes to start (ignored with -url)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "longest time to send for")
	flag.IntVar(&o.rate, "rate", 0, "requests/s over all instances; 0 = as fast as -clients go")
	flag.IntVar(&o.outcomes, "outcomes", 5000, "distinct TaskRouter outcomes to send")
	flag.IntVar(&o.records, "records", 2000, "distinct records to send in Outbound Messages")
	flag.IntVar(&o.batch, "batch", 10, "notifications per Outbound Message (1-100)")
	flag.Float64Var(&o.dup, "dup", 0.1, "fraction of requests delivered a second time")
	flag.IntVar(&o.clients, "clients", 16, "concurrent HTTP clients")
	flag.DurationVar(&o.drain, "drain", 60*time.Second, "longest wait for the queues to drain")
	flag.BoolVar(&o.soak, "soak", false, "3 instances, AOF Redis, and faults: kill -9, Redis restart, Salesforce 503s and row locks")
	flag.Var(&o.urls, "url", "drive this running bridge instead of starting one (repeatable)")
	flag.StringVar(&o.authToken, "auth-token", os.Getenv("BRIDGE_TWILIO_AUTH_TOKEN"), "with -url: the bridges' Twilio auth token (signs the events)")
	flag.StringVar(&o.redisURL, "redis-url", "", "with -url: the bridges' Redis, to wait for the drain")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.soak { // spread the load over the fault schedule (about 30 s)
		if !set["duration"] {
			o.duration = 35 * time.Second
		}
		if !set["rate"] {
			o.rate = 300
		}
		if !set["outcomes"] {
			o.outcomes = 7000
		}
		if !set["records"] {
			o.records = 3000
		}
	}
	if o.batch < 1 || o.batch > 100 {
		fail("-batch must be 1-100")
	}
	var err error
	if len(o.urls) > 0 {
		err = driveExisting(o)
	} else {
		err = runWorld(o)
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "load:", msg)
	os.Exit(1)
}

// driveExisting loads bridges someone else runs; only intake figures (and
// the drain, given -redis-url) can be measured from outside.
func driveExisting(o options) error {
	if o.authToken == "" {
		return fmt.Errorf("-url needs -auth-token (or BRIDGE_TWILIO_AUTH_TOKEN)")
	}
	jobs := plan(o.authToken, o.outcomes, o.records, o.batch, o.dup)
	res := drive(o.urls, jobs, o.clients, o.rate, o.duration)
	printIntake(res)
	if o.redisURL != "" {
		c, err := redis.NewClient(o.redisURL)
		if err != nil {
			return err
		}
		defer c.Close()
		t0 := time.Now()
		if err := waitDrained(c, o.drain); err != nil {
			return err
		}
		fmt.Printf("queues drained %.1f s after the last request\n", time.Since(t0).Seconds())
	}
	return nil
}

// env is the started world.
type env struct {
	dir     string
	sf      *sfsim.Server
	tw      *twiliosim.Server
	redis   *world.Redis
	rdb     *goredis.Client
	bridges []*world.Process
}

func (e *env) urls() []string {
	var out []string
	for _, p := range e.bridges {
		out = append(out, p.URL)
	}
	return out
}

func (e *env) close() {
	for _, p := range e.bridges {
		p.Terminate()
	}
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	if e.redis != nil {
		e.redis.Stop()
	}
	e.tw.Close()
	e.sf.Close()
	_ = os.RemoveAll(e.dir)
}

func runWorld(o options) (err error) {
	if o.soak {
		o.instances = 3
	}
	dir, err := os.MkdirTemp("", "bridge-load-")
	if err != nil {
		return err
	}
	e := &env{dir: dir, sf: sfsim.New(sfsim.Options{OrgID: world.OrgID}), tw: twiliosim.New(twiliosim.Options{AccountSID: world.AccountSID})}
	defer e.close()
	// Ctrl-C stops the bridges and Redis too (their orphan guard covers kill -9).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		for _, p := range e.bridges {
			p.Kill()
		}
		if e.redis != nil {
			e.redis.Stop()
		}
		_ = os.RemoveAll(dir)
		os.Exit(130)
	}()
	fmt.Printf("building ./cmd/bridge …\n")
	bin, err := world.Build(dir)
	if err != nil {
		return err
	}
	if e.redis, err = world.StartRedis(dir, o.soak); err != nil {
		return err
	}
	e.rdb = e.redis.Client()
	cfg, err := world.Env(dir, e.sf, e.tw, e.redis.URL())
	if err != nil {
		return err
	}
	for i := range o.instances {
		p, err := world.StartProcess(bin, fmt.Sprintf("load-%d", i+1), dir, cfg)
		if err != nil {
			return err
		}
		e.bridges = append(e.bridges, p)
	}
	fmt.Printf("%d bridge(s) on %s; redis-server on %s (appendonly %v); logs in %s\n",
		o.instances, strings.Join(e.urls(), " "), e.redis.Addr(), o.soak, dir)

	jobs := plan(e.tw.AuthToken, o.outcomes, o.records, o.batch, o.dup)
	stopFaults := func() []string { return nil }
	if o.soak {
		stopFaults = startFaults(e)
	}
	res := drive(e.urls(), jobs, o.clients, o.rate, o.duration)
	faults := stopFaults()
	lastSent := time.Now()
	printIntake(res)
	if err := waitDrained(e.rdb, o.drain); err != nil {
		return err
	}
	fmt.Printf("queues drained %.1f s after the last request\n", time.Since(lastSent).Seconds())
	for _, f := range faults {
		fmt.Println("fault:", f)
	}
	ok := report(e, res)
	if !ok {
		return fmt.Errorf("exactly-once checks failed (logs kept in %s)", keep(dir))
	}
	return nil
}

// keep stops the temporary directory from being removed, for a post-mortem.
func keep(dir string) string {
	kept := dir + "-kept"
	if os.Rename(dir, kept) == nil {
		return kept
	}
	return dir
}

// waitDrained waits until no queue holds anything, Redis outages included.
func waitDrained(c goredis.UniversalClient, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := world.Backlog(ctx, c)
		cancel()
		if err == nil && n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queues still hold %d entries after %s (err %v)", n, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func printIntake(r *result) {
	events := r.outcomesSent + r.notifications
	secs := r.wall.Seconds()
	fmt.Printf("\nrequests: %d acknowledged (%d TaskRouter, %d Outbound Messages carrying %d notifications), %d gave up, %d retries\n",
		r.sent-r.failedJobs, r.outcomesSent, r.soapReq, r.notifications, r.failedJobs, r.retries)
	fmt.Printf("intake: %.0f req/s, %.0f events/s over %.1f s\n", float64(r.sent-r.failedJobs)/secs, float64(events)/secs, secs)
	fmt.Printf("request latency: TaskRouter p50 %s p99 %s; Outbound Message p50 %s p99 %s\n",
		pct(r.outcomeLat, 0.5), pct(r.outcomeLat, 0.99), pct(r.soapLat, 0.5), pct(r.soapLat, 0.99))
}
