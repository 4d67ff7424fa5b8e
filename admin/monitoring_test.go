package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/test/world"
)

type noCRM struct{}

func (noCRM) Get(context.Context, string, string, []string) (salesforce.Record, error) {
	return nil, errors.New("not used")
}

func TestMonitoringView(t *testing.T) {
	_, rdb := world.MustPrivateRedis(t)
	fail := false
	view := MonitoringFunc(func(context.Context) (any, error) {
		if fail {
			return nil, errors.New("dial tcp 10.0.0.5:6379: refused")
		}
		return map[string]any{"date": "2026-03-03", "escalations": []map[string]string{{"contact_id": "003000000000001AAA", "reason": "symptoms"}}}, nil
	})
	serve := func(m Monitoring) *httptest.Server {
		api, err := NewAPI(APIConfig{Store: world.MustMappingStore(t, rdb), DeadLetters: redis.NewDeadLetters(rdb), CRM: noCRM{}, Monitoring: m})
		if err != nil {
			t.Fatal(err)
		}
		authn, err := auth.New(auth.Config{HMACSecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		eng := gin.New()
		api.Register(eng, authn.Require(auth.RoleAdmin))
		srv := httptest.NewServer(eng)
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(srv *httptest.Server, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+PathMonitoring, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	srv := serve(view)
	if s, _ := get(srv, ""); s != http.StatusUnauthorized {
		t.Fatalf("no token: %d", s)
	}
	if s, _ := get(srv, mint(t, "ana", auth.RoleAgent)); s != http.StatusForbidden {
		t.Fatalf("agent token: %d", s)
	}
	admin := mint(t, "alice", auth.RoleAdmin)
	if s, b := get(srv, admin); s != http.StatusOK || !strings.Contains(b, `"reason":"symptoms"`) {
		t.Fatalf("admin: %d %s", s, b)
	}
	fail = true
	if s, b := get(srv, admin); s != http.StatusServiceUnavailable || strings.Contains(b, "10.0.0.5") {
		t.Fatalf("failing view: %d %s", s, b)
	}
	if s, _ := get(serve(nil), admin); s != http.StatusNotFound {
		t.Fatalf("no view configured: %d", s)
	}
}
