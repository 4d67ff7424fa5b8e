package agentdemo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

func serve(t *testing.T) (*httptest.Server, *sfsim.Server, *twiliosim.Server) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	sf := sfsim.New(sfsim.Options{})
	tw := twiliosim.New(twiliosim.Options{})
	t.Cleanup(func() { sf.Close(); tw.Close() })
	d, err := New(Config{SF: sf, Twilio: tw, WorkerSID: tw.WorkerSID, CallerID: "+12125550100"})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	d.Register(e)
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return ts, sf, tw
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp, b.String()
}

func TestPageAndRecords(t *testing.T) {
	ts, sf, _ := serve(t)
	Seed(sf)
	resp, body := get(t, ts.URL+Path)
	if resp.StatusCode != 200 || !strings.Contains(body, "/demo/agent/agent.js") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header)
	}
	if resp, js := get(t, ts.URL+Path+"/agent.js"); resp.StatusCode != 200 || len(js) < 1000 {
		t.Fatalf("bundle: %d, %d bytes", resp.StatusCode, len(js))
	}
	resp, body = get(t, ts.URL+Path+"/api/records")
	if resp.StatusCode != 200 || !strings.Contains(body, "Rosa Diaz") || !strings.Contains(body, Household.PhoneAs) {
		t.Fatalf("records: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "Protected") || strings.Contains(body, "Index_Case") {
		t.Fatalf("a protected field reached the page: %s", body)
	}
}

func TestAPIRefusesBadInput(t *testing.T) {
	ts, _, tw := serve(t)
	for _, c := range []struct{ path, body string }{
		{"/inbound", `{"from":"7185550199"}`},
		{"/inbound", `not json`},
		{"/tasks", `[]`},
		{"/tasks/WT00000000000000000000000000000000/attributes", `{"attributes":{}}`},
		{"/tasks/WT00000000000000000000000000000000/complete", ``},
	} {
		resp, err := http.Post(ts.URL+Path+"/api"+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s %s: %d", c.path, c.body, resp.StatusCode)
		}
	}
	if n := len(tw.Tasks()); n != 0 {
		t.Fatalf("%d tasks created by bad input", n)
	}
}
