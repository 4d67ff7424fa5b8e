package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// fakeFlex is a hand-written FlexValidator.
type fakeFlex struct {
	ValidateFn func(ctx context.Context, token string) (FlexIdentity, error)
	calls      atomic.Int64
}

var _ FlexValidator = (*fakeFlex)(nil)

func (f *fakeFlex) ValidateFlexToken(ctx context.Context, token string) (FlexIdentity, error) {
	f.calls.Add(1)
	return f.ValidateFn(ctx, token)
}

// invalidErr is how a connector can say "refused" without importing auth.
type invalidErr struct{}

func (invalidErr) Error() string      { return "iam: token not valid" }
func (invalidErr) InvalidToken() bool { return true }

const (
	flexGood    = "eyJ.flex-good.jwe"
	flexAdmin   = "eyJ.flex-admin.jwe"
	flexBad     = "eyJ.flex-bad.jwe"
	flexBadIfc  = "eyJ.flex-bad-ifc.jwe"
	flexDown    = "eyJ.flex-down.jwe"
	flexNoIdent = "eyJ.flex-noident.jwe"
)

func scriptedFlex(now func() time.Time) *fakeFlex {
	return &fakeFlex{ValidateFn: func(_ context.Context, token string) (FlexIdentity, error) {
		exp := now().Add(time.Hour)
		switch token {
		case flexGood:
			return FlexIdentity{Identity: "ana@health.example", WorkerSID: testWorker, Roles: []string{"agent"}, Expiration: exp}, nil
		case flexAdmin:
			return FlexIdentity{Identity: "boss@health.example", WorkerSID: testWorker, Roles: []string{"admin", "supervisor"}, Expiration: exp}, nil
		case flexNoIdent:
			return FlexIdentity{WorkerSID: testWorker, Expiration: exp}, nil
		case flexBadIfc:
			return FlexIdentity{}, invalidErr{}
		case flexDown:
			return FlexIdentity{}, errors.New("iam: dial tcp: connection refused")
		default:
			return FlexIdentity{}, ErrFlexTokenInvalid
		}
	}}
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func newRouter(a *Authenticator) *gin.Engine {
	r := gin.New()
	echo := func(c *gin.Context) {
		p, ok := PrincipalFrom(c)
		if !ok {
			c.JSON(http.StatusInternalServerError, gin.H{"error": "no principal"})
			return
		}
		c.JSON(http.StatusOK, p)
	}
	r.GET("/agent", a.Require(RoleAgent), echo)
	r.GET("/admin", a.Require(RoleAdmin), echo)
	r.GET("/any", a.Require(), echo)
	return r
}

func TestRequire(t *testing.T) {
	flex := scriptedFlex(func() time.Time { return testNow })
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex})
	noFlex := MustNew(t, Config{HMACSecret: testSecret})

	hs := func(c jwt.MapClaims) string { return MustSign(t, jwt.SigningMethodHS256, testSecret, c) }
	agent := hs(baseClaims("agent"))
	admin := hs(with(baseClaims("admin"), "sub", "root"))
	expired := hs(with(baseClaims("agent"), "exp", testNow.Add(-time.Hour).Unix()))
	forged := MustSign(t, jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-xx"), baseClaims("admin"))

	const unauth = `Bearer realm="bridge"`
	tests := []struct {
		name      string
		auth      *Authenticator // default a
		path      string
		authz     string // Authorization header
		flexTok   string
		want      int
		wantErr   string // substring of the error body
		wantWWW   string // prefix of WWW-Authenticate
		wantPrinc *Principal
	}{
		{name: "missing header", path: "/agent", want: 401, wantErr: "missing", wantWWW: unauth},
		{name: "missing header admin", path: "/admin", want: 401, wantErr: "missing", wantWWW: unauth},
		{name: "empty bearer", path: "/agent", authz: "Bearer ", want: 401, wantWWW: unauth},
		{name: "basic scheme ignored", path: "/agent", authz: "Basic YWxhZGRpbjpvcGVuc2VzYW1l", want: 401, wantWWW: unauth},
		{name: "invalid token", path: "/agent", authz: "Bearer " + forged, want: 401, wantErr: "invalid token", wantWWW: unauth},
		{name: "garbage token", path: "/agent", authz: "Bearer abc.def.ghi", want: 401, wantErr: "invalid token", wantWWW: unauth},
		{name: "expired", path: "/agent", authz: "Bearer " + expired, want: 401, wantErr: "expired", wantWWW: unauth},
		{name: "agent on agent route", path: "/agent", authz: "Bearer " + agent, want: 200,
			wantPrinc: &Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "scheme is case-insensitive", path: "/agent", authz: "bearer " + agent, want: 200,
			wantPrinc: &Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "admin on agent route", path: "/agent", authz: "Bearer " + admin, want: 200,
			wantPrinc: &Principal{Subject: "root", Role: RoleAdmin, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "admin on admin route", path: "/admin", authz: "Bearer " + admin, want: 200,
			wantPrinc: &Principal{Subject: "root", Role: RoleAdmin, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "agent on admin route", path: "/admin", authz: "Bearer " + agent, want: 403, wantErr: "forbidden"},
		{name: "any role route", path: "/any", authz: "Bearer " + agent, want: 200,
			wantPrinc: &Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "flex valid", path: "/agent", flexTok: flexGood, want: 200,
			wantPrinc: &Principal{Subject: "ana@health.example", Role: RoleAgent, WorkerSID: testWorker, Source: SourceFlex}},
		{name: "flex admin role grants only agent", path: "/agent", flexTok: flexAdmin, want: 200,
			wantPrinc: &Principal{Subject: "boss@health.example", Role: RoleAgent, WorkerSID: testWorker, Source: SourceFlex}},
		{name: "flex on admin route", path: "/admin", flexTok: flexAdmin, want: 403, wantErr: "forbidden"},
		{name: "flex invalid", path: "/agent", flexTok: flexBad, want: 401, wantErr: "invalid token", wantWWW: unauth},
		{name: "flex invalid via InvalidToken()", path: "/agent", flexTok: flexBadIfc, want: 401, wantErr: "invalid token", wantWWW: unauth},
		{name: "flex without identity", path: "/agent", flexTok: flexNoIdent, want: 401, wantErr: "invalid token"},
		{name: "flex validator down", path: "/agent", flexTok: flexDown, want: 503, wantErr: "unavailable"},
		{name: "bad bearer does not fall back to flex", path: "/agent", authz: "Bearer " + forged, flexTok: flexGood, want: 401},
		{name: "bearer wins over flex", path: "/agent", authz: "Bearer " + agent, flexTok: flexGood, want: 200,
			wantPrinc: &Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "flex without validator", auth: noFlex, path: "/agent", flexTok: flexGood, want: 401, wantErr: "missing", wantWWW: unauth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			au := tt.auth
			if au == nil {
				au = a
			}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			if tt.flexTok != "" {
				req.Header.Set(HeaderFlexToken, tt.flexTok)
			}
			rec := httptest.NewRecorder()
			newRouter(au).ServeHTTP(rec, req)

			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			body := rec.Body.String()
			for _, secret := range []string{tt.authz, tt.flexTok, string(testSecret)} {
				if tok := strings.TrimPrefix(secret, "Bearer "); len(tok) > 8 && strings.Contains(body, tok) {
					t.Errorf("body echoes a token: %s", body)
				}
			}
			if tt.wantWWW != "" && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), tt.wantWWW) {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", rec.Header().Get("WWW-Authenticate"), tt.wantWWW)
			}
			if rec.Code == http.StatusOK {
				var p Principal
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				if tt.wantPrinc != nil && p != *tt.wantPrinc {
					t.Errorf("principal = %+v, want %+v", p, *tt.wantPrinc)
				}
				return
			}
			var eb map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Fatalf("error body not JSON: %s", body)
			}
			if len(eb) != 1 || eb["error"] == "" {
				t.Errorf("error body = %s, want {\"error\": …}", body)
			}
			if !strings.Contains(eb["error"], tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", eb["error"], tt.wantErr)
			}
		})
	}
}

func TestRequireHandlerNotRunOnRefusal(t *testing.T) {
	a := MustNew(t, Config{HMACSecret: testSecret})
	r := gin.New()
	ran := false
	r.GET("/x", a.Require(RoleAdmin), func(c *gin.Context) { ran = true })
	for _, h := range []string{"", "Bearer " + MustSign(t, jwt.SigningMethodHS256, testSecret, baseClaims("agent"))} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	if ran {
		t.Fatal("handler ran after refusal")
	}
}

func TestFlexCacheUntilExpiration(t *testing.T) {
	clk := newClock()
	flex := &fakeFlex{ValidateFn: func(_ context.Context, token string) (FlexIdentity, error) {
		return FlexIdentity{Identity: "ana", WorkerSID: testWorker, Expiration: clk.Now().Add(10 * time.Minute)}, nil
	}}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex, Now: clk.Now})
	r := newRouter(a)
	call := func(tok string) int {
		req := httptest.NewRequest(http.MethodGet, "/agent", nil)
		req.Header.Set(HeaderFlexToken, tok)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}

	for range 3 {
		if code := call("tok-1"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if n := flex.calls.Load(); n != 1 {
		t.Fatalf("validator calls = %d, want 1 (cached)", n)
	}
	call("tok-2")
	if n := flex.calls.Load(); n != 2 {
		t.Fatalf("validator calls = %d, want 2 (distinct token)", n)
	}
	clk.Add(9 * time.Minute)
	call("tok-1")
	if n := flex.calls.Load(); n != 2 {
		t.Fatalf("validator calls = %d, want 2 (still cached before expiration)", n)
	}
	clk.Add(time.Minute) // exactly at expiration
	call("tok-1")
	if n := flex.calls.Load(); n != 3 {
		t.Fatalf("validator calls = %d, want 3 (expired entry revalidated)", n)
	}
	call("tok-1")
	if n := flex.calls.Load(); n != 3 {
		t.Fatalf("validator calls = %d, want 3 (re-cached)", n)
	}
}

// A refusal is remembered (by digest) for FlexRefusalTTL, so a repeated bad
// token costs one IAM call; an outage is not remembered.
func TestFlexRefusalRememberedOutageNot(t *testing.T) {
	clk := newClock()
	var down atomic.Bool
	flex := &fakeFlex{ValidateFn: func(_ context.Context, token string) (FlexIdentity, error) {
		switch {
		case down.Load():
			return FlexIdentity{}, errors.New("iam 503")
		case token == "bad":
			return FlexIdentity{}, ErrFlexTokenInvalid
		case token == "noexp":
			return FlexIdentity{Identity: "ana"}, nil
		}
		return FlexIdentity{Identity: "ana", Expiration: clk.Now().Add(time.Hour)}, nil
	}}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex, Now: clk.Now})
	ctx := context.Background()

	for range 2 {
		if _, err := a.Authenticate(ctx, "", "bad"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrInvalidToken", err)
		}
	}
	if n := flex.calls.Load(); n != 1 {
		t.Fatalf("calls = %d, want 1: a refusal is remembered", n)
	}
	clk.Add(DefaultFlexRefusalTTL + time.Second)
	if _, err := a.Authenticate(ctx, "", "bad"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
	if n := flex.calls.Load(); n != 2 {
		t.Fatalf("calls = %d, want 2: a refusal is forgotten after its TTL", n)
	}

	down.Store(true)
	if _, err := a.Authenticate(ctx, "", "good"); !errors.Is(err, ErrFlexUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrFlexUnavailable only", err)
	}
	down.Store(false)
	if p, err := a.Authenticate(ctx, "", "good"); err != nil || p.Source != SourceFlex {
		t.Fatalf("after outage: %+v, %v", p, err)
	}
	if n := flex.calls.Load(); n != 4 {
		t.Fatalf("calls = %d, want 4: an outage is not cached", n)
	}

	// No expiration from IAM: accepted, not cached.
	for range 2 {
		if _, err := a.Authenticate(ctx, "", "noexp"); err != nil {
			t.Fatal(err)
		}
	}
	if n := flex.calls.Load(); n != 6 {
		t.Fatalf("calls = %d, want 6: identities without expiration are not cached", n)
	}
}

func TestFlexConcurrentCoalesced(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	flex := &fakeFlex{ValidateFn: func(ctx context.Context, token string) (FlexIdentity, error) {
		once.Do(func() { close(started) })
		<-release
		return FlexIdentity{Identity: "ana", WorkerSID: testWorker, Expiration: testNow.Add(time.Hour)}, nil
	}}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex})

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			p, err := a.Authenticate(context.Background(), "", "same-token")
			if err == nil && p.Subject != "ana" {
				err = errors.New("wrong principal")
			}
			errs <- err
		})
	}
	<-started
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := flex.calls.Load(); got != 1 {
		t.Fatalf("validator calls = %d, want 1", got)
	}
}

func TestFlexCallerCancelDoesNotFailOthers(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	var vctxCancelled atomic.Bool
	var hadDeadline atomic.Bool
	flex := &fakeFlex{ValidateFn: func(ctx context.Context, token string) (FlexIdentity, error) {
		_, ok := ctx.Deadline()
		hadDeadline.Store(ok)
		once.Do(func() { close(started) })
		<-release
		vctxCancelled.Store(ctx.Err() != nil)
		return FlexIdentity{Identity: "ana", Expiration: testNow.Add(time.Hour)}, nil
	}}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex, FlexTimeout: time.Minute})

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(ctx, "", "tok")
		first <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), "", "tok")
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, ErrFlexUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("other caller: %v", err)
	}
	if vctxCancelled.Load() {
		t.Errorf("validator context was cancelled with the first caller")
	}
	if !hadDeadline.Load() {
		t.Errorf("validator context has no deadline")
	}
	if got := flex.calls.Load(); got != 1 {
		t.Errorf("validator calls = %d, want 1", got)
	}
}

func TestFlexCacheBounded(t *testing.T) {
	clk := newClock()
	flex := &fakeFlex{ValidateFn: func(_ context.Context, token string) (FlexIdentity, error) {
		return FlexIdentity{Identity: token, Expiration: clk.Now().Add(time.Minute)}, nil
	}}
	a := MustNew(t, Config{HMACSecret: testSecret, Flex: flex, FlexCacheSize: 10, FlexBurst: 100, Now: clk.Now})
	ctx := context.Background()
	for i := range 25 {
		if _, err := a.Authenticate(ctx, "", "tok-"+itoa(int64(i))); err != nil {
			t.Fatal(err)
		}
		if s := a.flex.size(); s > 10 {
			t.Fatalf("cache size %d > 10", s)
		}
	}
	// Expired entries are swept first when full.
	clk.Add(2 * time.Minute)
	if _, err := a.Authenticate(ctx, "", "fresh"); err != nil {
		t.Fatal(err)
	}
	if s := a.flex.size(); s != 1 {
		t.Fatalf("cache size after sweep = %d, want 1", s)
	}
}

func BenchmarkRequireHS256(b *testing.B) {
	a := MustNew(b, Config{HMACSecret: testSecret})
	r := newRouter(a)
	tok := "Bearer " + MustSign(b, jwt.SigningMethodHS256, testSecret, baseClaims("agent"))
	req := httptest.NewRequest(http.MethodGet, "/agent", nil)
	req.Header.Set("Authorization", tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkFlexCached(b *testing.B) {
	flex := &fakeFlex{ValidateFn: func(context.Context, string) (FlexIdentity, error) {
		return FlexIdentity{Identity: "ana", Expiration: testNow.Add(time.Hour)}, nil
	}}
	a := MustNew(b, Config{HMACSecret: testSecret, Flex: flex})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, "", "tok"); err != nil {
			b.Fatal(err)
		}
	}
}
