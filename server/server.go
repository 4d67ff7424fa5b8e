// Package server assembles the bridge from a validated config.Config: Redis,
// the connectors, the queues and their flows, and the HTTP routes. It holds
// wiring only; behaviour lives in the packages it wires.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/admin"
	"github.com/cityhealth/bridge/agent"
	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/sendgrid"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/contacts"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/callers"
	"github.com/cityhealth/bridge/flow/clicktocall"
	"github.com/cityhealth/bridge/flow/escalation"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/flow/reconcile"
	"github.com/cityhealth/bridge/flow/recordsync"
	"github.com/cityhealth/bridge/flow/selfreport"
	"github.com/cityhealth/bridge/flow/writeback"
	"github.com/cityhealth/bridge/guard"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/webhooks"
)

// Options are what the environment cannot say: test and demo hooks.
type Options struct {
	LogOutput io.Writer    // default os.Stderr
	Logger    *slog.Logger // overrides LogOutput
	// Redis, when set, is used instead of dialling cfg.RedisURL (the demo's
	// embedded Redis). The server does not close it.
	Redis goredis.UniversalClient
	// Consumer names this instance in the consumer groups; default host-pid.
	Consumer string
	Tuning   Tuning
	Now      func() time.Time
	// Routes mounts extra routes after the bridge's own (the demo's pages);
	// `bridge serve` sets none.
	Routes func(gin.IRouter)
}

// Tuning holds the timings tests shorten; zero values are production ones.
type Tuning struct {
	Retry           redis.RetryPolicy       // queue retries (default: 1s..1m, give up after 15m)
	ClaimIdle       time.Duration           // take over a dead instance's work (default 30s)
	WritebackLinger time.Duration           // fill a Collections batch (default BRIDGE_WRITEBACK_LINGER)
	SalesforceRetry *salesforce.RetryPolicy // HTTP-level retries (default: the connector's)
	MappingPoll     time.Duration           // how often instances look for a new mapping (default 1s)
	TwilioTimeout   time.Duration           // per Twilio call (default 10s)
	// ReconcileInterval overrides BRIDGE_RECONCILE_INTERVAL (tests run it
	// in milliseconds; config refuses less than 1s).
	ReconcileInterval time.Duration
	// MonitoringInterval is how often the rolling schedule is worked
	// (default 30s); tests with a test clock run it in milliseconds.
	MonitoringInterval time.Duration
	HTTP               HTTPTimeouts // the listener's timeouts (default DefaultHTTPTimeouts())
	// EscalationInterval is how often due missed-day checks are looked
	// for, RetentionInterval how often expired contacts are forgotten
	// (default 30s both: within the 2 minutes SPEC allows).
	EscalationInterval time.Duration
	RetentionInterval  time.Duration
}

// HTTPTimeouts are the http.Server's; every one is set, so a client that
// trickles its headers or body, or never reads the answer, or idles on a
// kept-alive connection, gives its socket back.
type HTTPTimeouts struct {
	ReadHeader time.Duration
	Read       time.Duration // headers and body: a trickled body is cut off after this
	Write      time.Duration // from the end of the headers to the end of the answer
	Idle       time.Duration
}

// DefaultHTTPTimeouts: a body is in within 30 s (SPEC: cut off within 60 s);
// answers take at most one Salesforce read and one Twilio create (10 s each
// with retries), well inside 60 s.
func DefaultHTTPTimeouts() HTTPTimeouts {
	return HTTPTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second}
}

func (t HTTPTimeouts) orDefault() HTTPTimeouts {
	d := DefaultHTTPTimeouts()
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.Read > 0 {
		d.Read = t.Read
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// Server is one bridge instance.
type Server struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry

	rdb     goredis.UniversalClient
	ownsRDB bool
	sf      *salesforce.Client
	tw      *twilio.Client

	mappings   *redis.MappingStore
	recordSync *recordsync.Flow
	monitoring *monitoring.Flow
	contacts   *contacts.Registry
	reconciler *reconcile.Reconciler
	escalation *escalation.Flow
	kv         *redis.KV
	queues     map[string]*redis.Queue
	handlers   map[string]redis.BatchHandler
	engine     *gin.Engine

	// readiness: /readyz reads the Salesforce client's session and tries a
	// login at most once per readyLoginEvery, whatever the request rate.
	readyMu      sync.Mutex
	readyTried   time.Time
	readyLastErr error

	ln        net.Listener
	http      *http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New builds every part and checks it; nothing listens or consumes until Start.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	s := &Server{cfg: cfg, opts: opts, queues: map[string]*redis.Queue{}, handlers: map[string]redis.BatchHandler{}}
	s.log = opts.Logger
	if s.log == nil {
		out := opts.LogOutput
		if out == nil {
			out = os.Stderr
		}
		s.log = slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	}
	if opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.Consumer == "" {
		s.opts.Consumer = cfg.InstanceID
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := s.build(ctx); err != nil {
		s.closeClients()
		return nil, err
	}
	return s, nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func (s *Server) build(ctx context.Context) error {
	cfg := s.cfg

	// Redis: a client that fails to answer now still starts the server, so
	// /healthz answers and /readyz says what is down.
	if s.opts.Redis != nil {
		s.rdb = s.opts.Redis
	} else {
		rdb, err := redis.NewClient(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("BRIDGE_REDIS_URL: %w", err)
		}
		s.rdb, s.ownsRDB = rdb, true
	}
	kv, err := redis.NewKV(s.rdb, "")
	if err != nil {
		return err
	}

	if s.sf, err = newSalesforce(cfg, s.opts, s.log, s.reg); err != nil {
		return err
	}
	s.tw, err = twilio.NewClient(twilio.Config{
		AccountSID: cfg.Twilio.AccountSID, AuthToken: cfg.Twilio.AuthToken,
		WorkspaceSID: cfg.Twilio.WorkspaceSID, WorkflowSID: cfg.Twilio.WorkflowSID,
		MessagingServiceSID: cfg.Twilio.MessagingServiceSID, APIURL: cfg.Twilio.APIURL, Region: cfg.Twilio.Region,
		StatusCallback: cfg.PublicURL + webhooks.PathStatus,
		Timeout:        s.opts.Tuning.TwilioTimeout, TaskTimeout: twilio.MaxTaskTimeout,
		Logger: s.log.With("component", "twilio"), Registerer: s.reg,
	})
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}

	s.mappings, err = redis.NewMappingStore(redis.MappingStoreConfig{
		Redis: s.rdb, SeedFile: cfg.MappingFile, Poll: s.opts.Tuning.MappingPoll, Protected: cfg.ProtectedFields,
		Logger: s.log.With("component", "mappings"),
	})
	if err != nil {
		return err
	}
	// Bounded, so a Redis that does not answer cannot hold /healthz past 5 s.
	loadCtx, cancelLoad := context.WithTimeout(ctx, 2*time.Second)
	err = s.mappings.Load(loadCtx)
	cancelLoad()
	if err != nil {
		// Redis may be down at start: run on the seed file until it is back.
		s.log.Warn("mapping not loaded from Redis yet; using BRIDGE_MAPPING_FILE", "err", err)
	}

	for _, name := range []string{event.QueueRecords, event.QueueMonitoring, event.QueueWriteback, event.QueueSelfReport, event.QueueEscalation} {
		qc := redis.QueueConfig{
			Name: name, Consumer: s.opts.Consumer, Retry: s.opts.Tuning.Retry, ClaimIdle: s.opts.Tuning.ClaimIdle,
			Logger: s.log.With("component", "queue"), Registerer: s.reg,
		}
		if name == event.QueueWriteback {
			// Collections take 200 rows. One instance at a time builds the
			// batches and lingers to fill them, so a trickle of outcomes
			// costs a call per linger for the whole city, not per instance.
			qc.BatchSize, qc.SingleReader = salesforce.MaxCollection, true
			qc.Linger = s.opts.Tuning.WritebackLinger
			if qc.Linger == 0 {
				qc.Linger = cfg.WritebackLinger
			}
		}
		q, err := redis.NewQueue(s.rdb, qc)
		if err != nil {
			return err
		}
		s.queues[name] = q
	}

	sync, err := recordsync.New(recordsync.Config{Tasks: s.tw, Store: kv, Mappings: s.mappings, Logger: s.log.With("flow", "recordsync")})
	if err != nil {
		return err
	}
	s.handlers[event.QueueRecords] = sync.Handle
	s.recordSync, s.kv = sync, kv

	surveys, err := survey.NewLinks(survey.LinksConfig{Secret: cfg.SurveySecret, Previous: cfg.SurveySecretPrevious, PublicURL: cfg.PublicURL, Now: s.opts.Now})
	if err != nil {
		return err
	}
	var mailer monitoring.Mailer
	if cfg.SendGrid.APIKey != "" {
		sgc, err := sendgrid.NewClient(sendgrid.Config{
			APIKey: cfg.SendGrid.APIKey, From: cfg.SendGrid.From, APIURL: cfg.SendGrid.APIURL,
			Logger: s.log.With("component", "sendgrid"), Registerer: s.reg,
		})
		if err != nil {
			return fmt.Errorf("sendgrid: %w", err)
		}
		mailer = sgc
	} else {
		s.log.Warn("BRIDGE_SENDGRID_API_KEY is not set: the email reminder channel is off")
	}
	var caller monitoring.Caller
	if cfg.Twilio.VoiceFrom != "" {
		caller = s.tw
	} else {
		s.log.Warn("BRIDGE_TWILIO_VOICE_FROM (or BRIDGE_TWILIO_CALLER_ID) is not set: the voice reminder channel is off")
	}
	// Escalation asks monitoring whether a day was reminded; monitoring
	// tells escalation of every contact change: monRef closes the loop.
	monRef := &monitorRef{}
	escDue, err := redis.NewSchedule(s.rdb, "escalation:due")
	if err != nil {
		return err
	}
	esc, err := escalation.New(escalation.Config{
		Tasks: s.tw, CRM: s.sf, Store: kv, Due: escDue, Mappings: s.mappings, Monitor: monRef, Answers: kv, UsedKey: survey.UsedKey,
		Queue: s.queues[event.QueueEscalation], Location: cfg.Timezone, Now: s.opts.Now,
		Interval: s.opts.Tuning.EscalationInterval, Logger: s.log.With("flow", "escalation"), Registerer: s.reg,
	})
	if err != nil {
		return err
	}
	s.handlers[event.QueueEscalation] = esc.Handle
	s.escalation = esc
	deadlines, err := redis.NewSchedule(s.rdb, "monitoring:retention")
	if err != nil {
		return err
	}
	// The registry forgets a contact with monitoring (its days), escalation
	// and the dead letters; monRef reaches monitoring, built after it.
	reg, err := contacts.New(contacts.Config{
		Store: kv, Location: cfg.Timezone, Now: s.opts.Now, Logger: s.log.With("component", "contacts"),
		Retention: cfg.Retention, Deadlines: deadlines,
		Forgetters: []contacts.Forgetter{monRef, esc, redis.NewDeadLetters(s.rdb)},
	})
	if err != nil {
		return err
	}
	s.contacts = reg
	mon, err := monitoring.New(monitoring.Config{
		Messages: s.tw, CRM: s.sf, Store: kv, Contacts: reg, Mappings: s.mappings, Links: surveys,
		Location: cfg.Timezone, Enabled: cfg.Twilio.MessagingServiceSID != "",
		Logger: s.log.With("flow", "monitoring"), Now: s.opts.Now,
		Watcher: esc, UsedKey: survey.UsedKey,
		Horizon: cfg.ReminderHorizon, Interval: s.opts.Tuning.MonitoringInterval,
		Caller: caller, VoiceFrom: cfg.Twilio.VoiceFrom, CallsPerSecond: cfg.Twilio.CallsPerSecond, Mailer: mailer,
		Registerer: s.reg,
	})
	if err != nil {
		return err
	}
	monRef.Flow = mon
	if cfg.Twilio.MessagingServiceSID == "" {
		s.log.Warn("BRIDGE_TWILIO_MESSAGING_SERVICE_SID is not set: monitoring reminders are off")
	}
	s.handlers[event.QueueMonitoring] = mon.Handle
	s.monitoring = mon

	wb, err := writeback.New(writeback.Config{
		CRM: s.sf, Contacts: reg, Mappings: s.mappings, Location: cfg.Timezone, Logger: s.log.With("flow", "writeback"),
		Escalations: s.queues[event.QueueEscalation],
	})
	if err != nil {
		return err
	}
	s.handlers[event.QueueWriteback] = wb.Handle

	interval := s.opts.Tuning.ReconcileInterval
	if interval == 0 {
		interval = cfg.ReconcileInterval
	}
	s.reconciler, err = reconcile.New(reconcile.Config{
		History: s.tw, Monitoring: s.queues[event.QueueMonitoring], Writeback: s.queues[event.QueueWriteback],
		Store: kv, Owner: s.owner(), Interval: interval,
		Logger: s.log.With("flow", "reconcile"), Registerer: s.reg, Now: s.opts.Now,
	})
	if err != nil {
		return err
	}

	reportLinks, err := survey.NewReportLinks(survey.LinksConfig{Secret: cfg.SurveySecret, PublicURL: cfg.PublicURL, Now: s.opts.Now})
	if err != nil {
		return err
	}
	elicit, err := selfreport.New(selfreport.Config{
		Messages: s.tw, CRM: s.sf, Store: kv, Links: reportLinks, Mappings: s.mappings,
		Logger: s.log.With("flow", "selfreport"),
	})
	if err != nil {
		return err
	}
	s.handlers[event.QueueSelfReport] = elicit.Handle

	c2c, err := clicktocall.New(clicktocall.Config{
		CRM: s.sf, Tasks: s.tw, Store: kv, Mappings: s.mappings, CallerID: cfg.Twilio.CallerID,
		CacheTTL: cfg.ContextCacheTTL, Logger: s.log.With("flow", "clicktocall"),
	})
	if err != nil {
		return err
	}

	lookup, err := callers.New(callers.Config{
		CRM: s.sf, Store: kv, Mappings: s.mappings, CacheTTL: cfg.ContextCacheTTL, Logger: s.log.With("flow", "callers"),
	})
	if err != nil {
		return err
	}

	authn, err := auth.New(auth.Config{
		HMACSecret: cfg.JWT.Secret, HMACPrevious: cfg.JWT.SecretPrevious, MaxTTL: cfg.JWT.MaxTTL,
		PublicKey: cfg.JWT.PublicKey, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience,
		Flex: flexValidator{s.tw}, Logger: s.log.With("component", "auth"),
	})
	if err != nil {
		return err
	}

	voice, err := survey.NewVoice(survey.VoiceConfig{
		Links: surveys, Mappings: s.mappings, Submissions: s.queues[event.QueueWriteback], Contacts: reg, Store: kv,
		Logger: s.log.With("component", "voice"), Now: s.opts.Now,
	})
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(webhooks.Config{
		Voice: voice,
		OrgID: cfg.Salesforce.OrgID, OutboundToken: cfg.Salesforce.OutboundToken, PublicURL: cfg.PublicURL, AccountSID: cfg.Twilio.AccountSID,
		Records: s.queues[event.QueueRecords], Monitoring: s.queues[event.QueueMonitoring], Writeback: s.queues[event.QueueWriteback],
		SelfReport: s.queues[event.QueueSelfReport],
		Mappings:   s.mappings, Signature: twilio.NewSignatureValidator(cfg.Twilio.AuthToken, cfg.Twilio.AuthTokenPrevious),
		Logger: s.log.With("component", "webhooks"), Registerer: s.reg, Now: s.opts.Now,
	})
	if err != nil {
		return err
	}

	pages, err := survey.NewPages(survey.PagesConfig{
		Links: surveys, Mappings: s.mappings, Submissions: s.queues[event.QueueWriteback], Contacts: reg, Store: kv,
		Logger: s.log.With("component", "survey"), Now: s.opts.Now,
	})
	if err != nil {
		return err
	}

	reports, err := survey.NewReports(survey.ReportsConfig{
		Links: reportLinks, Mappings: s.mappings, Submissions: s.queues[event.QueueWriteback], Cases: elicit, Store: kv,
		Location: cfg.Timezone, Logger: s.log.With("component", "report"), Now: s.opts.Now,
	})
	if err != nil {
		return err
	}

	adminAPI, err := admin.NewAPI(admin.APIConfig{
		Store: s.mappings, DeadLetters: redis.NewDeadLetters(s.rdb), CRM: s.sf, CallerID: cfg.Twilio.CallerID,
		Location: cfg.Timezone, Now: s.opts.Now, Logger: s.log.With("component", "admin"),
		Monitoring: admin.MonitoringFunc(func(ctx context.Context) (any, error) { return esc.Today(ctx) }),
	})
	if err != nil {
		return err
	}

	e := gin.New()
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return fmt.Errorf("BRIDGE_TRUSTED_PROXIES: %w", err)
	}
	// gin's own Recovery dumps request headers (a Flex token among them):
	// log the route only.
	e.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) {
		s.log.Error("handler panicked", "route", c.FullPath())
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
	}), s.accessLog())
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
	// Body limits per route family (guard): the webhooks set their own
	// (5 MB SOAP, 64 KB signed forms); a route added to a group gets its limit.
	hooks.Register(e)
	agent.Register(e.Group("", guard.BodyLimit(guard.AgentBody)), authn.Require(auth.RoleAgent), c2c, s.log.With("component", "agent"))
	agent.RegisterDesktop(e.Group("", guard.BodyLimit(guard.AgentBody)), authn.Require(auth.RoleAgent), lookup, s.mappings, s.log.With("component", "agent"))
	pages.Register(e.Group("", guard.BodyLimit(guard.PageBody)))
	agent.RegisterElicitation(e.Group("", guard.BodyLimit(guard.AgentBody)), authn.Require(auth.RoleAgent), elicit, s.log.With("component", "agent"))
	reports.Register(e.Group("", guard.BodyLimit(guard.PageBody)))
	adminAPI.Register(e.Group("", guard.BodyLimit(guard.AdminBody)), authn.Require(auth.RoleAdmin))
	if s.opts.Routes != nil {
		s.opts.Routes(e)
	}
	s.engine = e
	return nil
}

// owner names this instance in the reconciler's lease.
func (s *Server) owner() string {
	if s.opts.Consumer != "" {
		return s.opts.Consumer
	}
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid())
}

// The flows satisfy the pages' seams without importing them.
var _ survey.ReportCases = (*selfreport.Flow)(nil)

// monitorRef lets escalation and the contact registry reach monitoring,
// which is built after them.
type monitorRef struct{ *monitoring.Flow }

func (m *monitorRef) Reminded(ctx context.Context, contactID, date string) (bool, error) {
	return m.Flow.Reminded(ctx, contactID, date)
}

func (m *monitorRef) Forget(ctx context.Context, contactID string, phones []string) error {
	return m.Flow.Forget(ctx, contactID, phones)
}

// flexValidator adapts the Twilio connector's IAM check to auth's seam.
type flexValidator struct{ tw *twilio.Client }

func (f flexValidator) ValidateFlexToken(ctx context.Context, token string) (auth.FlexIdentity, error) {
	id, err := f.tw.ValidateFlexToken(ctx, token)
	if errors.Is(err, twilio.ErrFlexTokenInvalid) {
		// A refused token is a 401; any other failure means IAM is unreachable (503).
		return auth.FlexIdentity{}, auth.ErrFlexTokenInvalid
	}
	if err != nil {
		return auth.FlexIdentity{}, err
	}
	return auth.FlexIdentity{Identity: id.Identity, WorkerSID: id.WorkerSID, Roles: id.Roles, Expiration: id.Expiration}, nil
}

// accessLog logs the route pattern, never the raw path or query: those carry
// survey tokens and the outbound token.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.log.Debug("http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "ms", time.Since(start).Milliseconds())
	}
}

func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	status, code := gin.H{"redis": "ok", "salesforce": "ok"}, http.StatusOK
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		status["redis"], code = "unavailable", http.StatusServiceUnavailable
	}
	if err := s.salesforceReady(ctx); err != nil {
		status["salesforce"], code = "unavailable", http.StatusServiceUnavailable
	}
	c.JSON(code, status)
}

// readyLoginEvery bounds the logins /readyz can cause: an anonymous caller
// polling it costs Salesforce one login per 30 s at most.
const readyLoginEvery = 30 * time.Second

func (s *Server) salesforceReady(ctx context.Context) error {
	if s.sf.HasSession() {
		return nil
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.sf.HasSession() {
		return nil
	}
	now := s.opts.Now()
	if !s.readyTried.IsZero() && now.Sub(s.readyTried) < readyLoginEvery {
		return s.readyLastErr
	}
	s.readyTried, s.readyLastErr = now, nil
	if err := s.sf.Token(ctx); err != nil {
		s.readyLastErr = errors.New("salesforce login failed")
	}
	return s.readyLastErr
}

// newSalesforce is the Salesforce client serve and backfill share.
func newSalesforce(cfg *config.Config, opts Options, log *slog.Logger, reg prometheus.Registerer) (*salesforce.Client, error) {
	sfCfg := salesforce.Config{
		LoginURL: cfg.Salesforce.LoginURL, Audience: cfg.Salesforce.Audience, ClientID: cfg.Salesforce.ClientID, Username: cfg.Salesforce.Username,
		PrivateKey: cfg.Salesforce.PrivateKey, APIVersion: cfg.Salesforce.APIVersion,
		Logger: log.With("component", "salesforce"), Registerer: reg,
	}
	if p := opts.Tuning.SalesforceRetry; p != nil {
		sfCfg.HTTPClient = salesforce.NewHTTPClient(*p, nil)
		sfCfg.LockRetry = *p
	}
	sf, err := salesforce.NewClient(sfCfg)
	if err != nil {
		return nil, fmt.Errorf("salesforce: %w", err)
	}
	return sf, nil
}

// Handler is the HTTP handler, for tests that drive it without a listener.
func (s *Server) Handler() http.Handler { return s.engine }

// Start listens on cfg.Addr (":0" picks a port) and starts the consumers and
// the mapping watcher.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on BRIDGE_ADDR %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	to := s.opts.Tuning.HTTP.orDefault()
	s.http = &http.Server{Handler: s.engine, ReadHeaderTimeout: to.ReadHeader, ReadTimeout: to.Read, WriteTimeout: to.Write, IdleTimeout: to.Idle}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.mappings.Watch(bg) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.monitoring.Run(bg) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.reconciler.Run(bg) }()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.contacts.RunRetention(bg, s.opts.Tuning.RetentionInterval) }()
	go func() { defer s.wg.Done(); s.escalation.Run(bg) }()
	for name, q := range s.queues {
		q, h := q, s.handlers[name]
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = q.Run(bg, h) }()
	}
	s.log.Info("bridge started", "addr", ln.Addr().String())
	return nil
}

// Addr is where Start listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is http://Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Run starts the server and serves until ctx ends, then drains.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.Close(shutdown)
}

// Close stops taking requests, lets in-flight requests and batches finish,
// then stops the loops and closes clients. Safe to call twice.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.http != nil {
			errs = append(errs, s.http.Shutdown(ctx))
		}
		for _, q := range s.queues {
			errs = append(errs, q.Close(ctx))
		}
		if s.cancel != nil {
			s.cancel()
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		s.closeClients()
		s.closeErr = errors.Join(errs...)
		s.log.Info("bridge stopped")
	})
	return s.closeErr
}

func (s *Server) closeClients() {
	if s.ownsRDB && s.rdb != nil {
		_ = s.rdb.Close()
	}
}

// QueueStats reports each queue; a queue whose stats cannot be read is left out.
func (s *Server) QueueStats(ctx context.Context) map[string]redis.QueueStats {
	out := map[string]redis.QueueStats{}
	for name, q := range s.queues {
		if st, err := q.Stats(ctx); err == nil {
			out[name] = st
		}
	}
	return out
}

// MappingVersion is the stored mapping version in force on this instance.
func (s *Server) MappingVersion() int64 { return s.mappings.CurrentVersion() }
