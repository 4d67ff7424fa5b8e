package sendgrid_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cityhealth/bridge/connector/sendgrid"
	"github.com/cityhealth/bridge/test/sendgridsim"
)

func mustClient(t *testing.T, sim *sendgridsim.Server, mutate ...func(*sendgrid.Config)) *sendgrid.Client {
	t.Helper()
	cfg := sendgrid.Config{APIKey: sim.APIKey, From: "Health Dept <checks@health.example.gov>", APIURL: sim.URL}
	for _, f := range mutate {
		f(&cfg)
	}
	c, err := sendgrid.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendQueuesOneMail(t *testing.T) {
	t.Parallel()
	sim := sendgridsim.New(sendgridsim.Options{})
	defer sim.Close()
	reg := prometheus.NewRegistry()
	c := mustClient(t, sim, func(c *sendgrid.Config) { c.Registerer = reg })
	id, err := c.Send(context.Background(), sendgrid.Email{To: "ana@example.org", Subject: "Your daily health check",
		Text: "Hi Ana: https://bridge.example/survey/x", CustomArgs: map[string]string{"contact_id": "003000000000001AAA"}})
	if err != nil || id == "" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	mails := sim.Mails()
	if len(mails) != 1 || mails[0].MessageID != id || mails[0].To[0] != "ana@example.org" || mails[0].From != "checks@health.example.gov" ||
		mails[0].Subject != "Your daily health check" || !strings.Contains(mails[0].Text, "/survey/x") || mails[0].CustomArgs["contact_id"] != "003000000000001AAA" {
		t.Fatalf("mail = %+v", mails)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 2 {
		t.Fatalf("metrics: %d families, %v", len(mfs), err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() != "202" {
					t.Errorf("label %s=%s", l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestErrorsAreTypedAndQuoteNoAddress(t *testing.T) {
	t.Parallel()
	sim := sendgridsim.New(sendgridsim.Options{})
	defer sim.Close()
	tests := []struct {
		name      string
		client    func() *sendgrid.Client
		fail      int
		email     sendgrid.Email
		status    int
		transient bool
		field     string
	}{
		{name: "bad key", client: func() *sendgrid.Client { return mustClient(t, sim, func(c *sendgrid.Config) { c.APIKey = "SG.wrong" }) },
			email: sendgrid.Email{To: "ana@example.org", Subject: "s", Text: "t"}, status: 401},
		{name: "rate limited", fail: 429, email: sendgrid.Email{To: "ana@example.org", Subject: "s", Text: "t"}, status: 429, transient: true},
		{name: "server error", fail: 503, email: sendgrid.Email{To: "ana@example.org", Subject: "s", Text: "t"}, status: 503, transient: true},
		{name: "no subject", email: sendgrid.Email{To: "ana@example.org", Text: "t"}, status: 400, field: "subject"},
		{name: "empty text", email: sendgrid.Email{To: "ana@example.org", Subject: "s"}, status: 400, field: "content.0.value"},
		{name: "bad address", email: sendgrid.Email{To: "ana at example", Subject: "s", Text: "t"}, status: 0, field: "personalizations.0.to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustClient(t, sim)
			if tt.client != nil {
				c = tt.client()
			}
			if tt.fail != 0 {
				sim.FailNext(1, tt.fail)
			}
			before := len(sim.Mails())
			_, err := c.Send(context.Background(), tt.email)
			var ae *sendgrid.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("err = %v", err)
			}
			if sendgrid.IsTransient(err) != tt.transient || sendgrid.IsAmbiguous(err) {
				t.Errorf("transient/ambiguous wrong for %v", err)
			}
			if tt.field != "" && (len(ae.Fields) == 0 || ae.Fields[0] != tt.field) {
				t.Errorf("fields = %v", ae.Fields)
			}
			if strings.Contains(err.Error(), "ana") {
				t.Errorf("error text quotes the address: %v", err)
			}
			if len(sim.Mails()) != before {
				t.Error("a refused request queued a mail")
			}
		})
	}
}

func TestTimeoutAfterSendingIsAmbiguous(t *testing.T) {
	t.Parallel()
	sim := sendgridsim.New(sendgridsim.Options{})
	defer sim.Close()
	sim.SetLatency(time.Second)
	c := mustClient(t, sim, func(c *sendgrid.Config) { c.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond} })
	_, err := c.Send(context.Background(), sendgrid.Email{To: "ana@example.org", Subject: "s", Text: "t"})
	if !sendgrid.IsAmbiguous(err) || !sendgrid.IsTransient(err) {
		t.Fatalf("err = %v, want ambiguous", err)
	}
	if len(sim.Mails()) != 1 {
		t.Fatalf("the sim queued %d mails; a send the client gave up on is still sent", len(sim.Mails()))
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, cfg := range []sendgrid.Config{
		{From: "a@example.org"},
		{APIKey: "k", From: "not an address"},
		{APIKey: "k", From: "a@example.org", APIURL: "ftp://x"},
		{APIKey: "k", From: "a@example.org", APIURL: "https://api.sendgrid.com/v3"},
	} {
		if _, err := sendgrid.NewClient(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}
