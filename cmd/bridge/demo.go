package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/server"
	"github.com/cityhealth/bridge/test/agentdemo"
	"github.com/cityhealth/bridge/test/democonsole"
	"github.com/cityhealth/bridge/test/sendgridsim"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// The demo's org, and the sample contacts it seeds into the Salesforce stand-in.
const demoOrgID = "00DRM000000AbCD2AY"

// demoServiceNumber is the department's number: caller id and where texts go.
const demoServiceNumber = "+12125550100"

type demoContact struct {
	first, last, phone, language, outreach, monitoring string
	elicitation                                        string // Elicitation_Status__c: Requested asks the case for contacts
}

var demoContacts = []demoContact{
	{"Alex", "Rivera", "(212) 555-0123", "Spanish", "Needs Outreach", "Active", ""},
	{"Sam", "Okafor", "(718) 555-0188", "English", "Needs Outreach", "Active", ""},
	{"Mei", "Chen", "(917) 555-0164", "English", "Needs Outreach", "", ""},
	{"Dana", "Kowalski", "(347) 555-0112", "English", "Closed", "", ""},
	{"Luis", "Ortega", "", "Spanish", "Needs Outreach", "", ""},                 // no number: click-to-call answers 422
	{"Rosa", "Delgado", "(646) 555-0131", "Spanish", "Closed", "", "Requested"}, // a case: texted a self-report link
}

// demo runs the real bridge on an embedded Redis (or BRIDGE_REDIS_URL) and
// the Salesforce and Twilio stand-ins, seeds sample contacts, plays one
// record through every flow, and prints what to click.
func demo(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	c := newCommand("demo", "bridge demo [--addr 127.0.0.1:8080]",
		"Runs the real bridge on an embedded Redis (or BRIDGE_REDIS_URL) with the Salesforce\n"+
			"and Twilio stand-ins and sample contacts, plays them through every flow, and\n"+
			"serves a console at /demo/ to watch both sides and act as the outside world.")
	addr := c.fs.String("addr", "127.0.0.1:8080", "listen address (falls back to a free port when taken)")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "bridge demo: %v\n", err); return 1 }

	dir, err := os.MkdirTemp("", "bridge-demo-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	redisURL, _ := getenv("BRIDGE_REDIS_URL")
	if redisURL == "" {
		mr, stop, err := embeddedRedis(ctx)
		if err != nil {
			return fail(err)
		}
		defer stop()
		redisURL = "redis://" + mr.Addr()
	}

	sf := sfsim.New(sfsim.Options{OrgID: demoOrgID})
	defer sf.Close()
	tw := twiliosim.New(twiliosim.Options{})
	defer tw.Close()
	sg := sendgridsim.New(sendgridsim.Options{})
	defer sg.Close()

	listen := *addr
	if v, ok := getenv("BRIDGE_ADDR"); ok && v != "" {
		listen = v
	}
	ln, publicURL, err := listenDemo(listen)
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	keyFile := filepath.Join(dir, "sf.pem")
	mappingFile := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(keyFile, sf.PrivateKeyPEM(), 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(mappingFile, []byte(config.ExampleMapping), 0o600); err != nil {
		return fail(err)
	}
	logLevel := "warn"
	if v, ok := getenv("BRIDGE_LOG_LEVEL"); ok && v != "" {
		logLevel = v
	}
	// The Outbound Message endpoint URL carries this token (the org id is
	// no secret); the demo makes one and prints the URL with it.
	outboundToken := randomSecret()
	outboundURL := publicURL + "/webhooks/salesforce/outbound?token=" + url.QueryEscape(outboundToken)
	env := map[string]string{
		// The bridge itself listens on a loopback port of its own; the demo's
		// listener serves it and the console under BRIDGE_PUBLIC_URL.
		"BRIDGE_ADDR": "127.0.0.1:0", "BRIDGE_PUBLIC_URL": publicURL, "BRIDGE_REDIS_URL": redisURL,
		"BRIDGE_MAPPING_FILE": mappingFile, "BRIDGE_SF_LOGIN_URL": sf.URL, "BRIDGE_SF_CLIENT_ID": sf.ClientID,
		"BRIDGE_SF_USERNAME": sf.Username, "BRIDGE_SF_PRIVATE_KEY_FILE": keyFile, "BRIDGE_SF_ORG_ID": demoOrgID,
		"BRIDGE_SF_OUTBOUND_TOKEN": outboundToken, "BRIDGE_PROTECTED_FIELDS": "Index_Case_Name__c,Source_Case__c",
		"BRIDGE_TWILIO_ACCOUNT_SID": tw.AccountSID, "BRIDGE_TWILIO_AUTH_TOKEN": tw.AuthToken,
		"BRIDGE_TWILIO_WORKSPACE_SID": tw.WorkspaceSID, "BRIDGE_TWILIO_WORKFLOW_SID": tw.WorkflowSID,
		"BRIDGE_TWILIO_MESSAGING_SERVICE_SID": tw.MessagingServiceSID, "BRIDGE_TWILIO_CALLER_ID": demoServiceNumber,
		"BRIDGE_TWILIO_API_URL": tw.URL, "BRIDGE_JWT_SECRET": randomSecret(), "BRIDGE_SURVEY_SECRET": randomSecret(),
		"BRIDGE_LOG_LEVEL":        logLevel,
		"BRIDGE_SENDGRID_API_KEY": sg.APIKey, "BRIDGE_SENDGRID_API_URL": sg.URL, "BRIDGE_EMAIL_FROM": "checks@health.example.gov",
	}
	cfg, err := config.Load(config.MapSource(env), config.ModeServe)
	if err != nil {
		return fail(err)
	}
	desk, err := agentdemo.New(agentdemo.Config{SF: sf, Twilio: tw, WorkerSID: tw.WorkerSID, CallerID: cfg.Twilio.CallerID})
	if err != nil {
		return fail(err)
	}
	srv, err := server.New(ctx, cfg, server.Options{LogOutput: stderr, Routes: desk.Register})
	if err != nil {
		return fail(err)
	}
	if err := srv.Start(ctx); err != nil {
		return fail(err)
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(shutdown)
	}()
	tw.SetEventCallbackURL(publicURL + "/webhooks/twilio/taskrouter")

	mp, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		return fail(err)
	}
	console, err := democonsole.New(democonsole.Config{
		Salesforce: sf, Twilio: tw, BridgeURL: publicURL, OrgID: demoOrgID, OutboundToken: outboundToken,
		ServiceNumber: demoServiceNumber, Protected: append(mp.Protected(), "Index_Case_Name__c"),
		Fallback: srv.Handler(), Logger: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail(err)
	}
	front := &http.Server{Handler: demoHandler(console, srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = front.Serve(ln) }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = front.Shutdown(shutdown)
	}()

	// Twilio sends a scheduled message at its SendAt; the stand-in does when told.
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				tw.SendDue()
			}
		}
	}()

	// As a record-triggered flow would in the org: a contact created for
	// outreach (a self-reported one) fires an Outbound Message.
	sf.SendOutboundOnInsert(sfsim.OutboundRule{Object: "Contact", URL: outboundURL,
		When: func(r map[string]any) bool { return r["Outreach_Status__c"] == "Needs Outreach" }})

	ids := seedContacts(sf)
	agentdemo.Seed(sf)
	channelIDs, at := seedChannelContacts(sf, tw, cfg.Timezone)
	walk := playThrough(ctx, publicURL, outboundURL, sf, tw, append(ids, channelIDs...)) + channelsNote(at, sg)

	admin, _ := auth.Mint(cfg.JWT.Secret, auth.MintClaims{Subject: "demo-admin", Role: auth.RoleAdmin, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, TTL: 12 * time.Hour})
	agent, _ := auth.Mint(cfg.JWT.Secret, auth.MintClaims{Subject: "demo-tracer", Role: auth.RoleAgent, WorkerSID: tw.WorkerSID, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, TTL: 12 * time.Hour})

	fmt.Fprintf(stdout, `
The bridge is running (embedded Redis, Salesforce and Twilio stand-ins).

  console          %[1]s/demo/          <- start here: both sides, live; edit, complete, reply
  agent desktop    %[1]s/demo/agent
  admin page       %[1]s/admin/         (paste $ADMIN)
  metrics          %[1]s/metrics

What already happened:
%[2]s
For the curl examples and "bridge twilio sign", paste these into your shell:

export BRIDGE=%[1]s
export ADMIN=%[3]s
export AGENT=%[4]s
export BRIDGE_TWILIO_AUTH_TOKEN=%[5]s
export BRIDGE_TWILIO_ACCOUNT_SID=%[6]s
export BRIDGE_SF_OUTBOUND_TOKEN=%[7]s
export BRIDGE_JWT_SECRET=%[14]s
export BRIDGE_TWILIO_WORKSPACE_SID=%[15]s
export SF_SIM=%[8]s
export TWILIO_SIM=%[9]s

Try it:
  # click-to-call for Mei (201, then 200 with the same task within 10 s)
  curl -s -X POST $BRIDGE/v1/click-to-call -H "Authorization: Bearer $AGENT" -H 'Content-Type: application/json' -d '{"record_id":"%[10]s"}'
  # the screen-pop context Flex would show
  curl -s $BRIDGE/v1/records/%[10]s/context -H "Authorization: Bearer $AGENT"
  # a record without a number: 422 naming the field
  curl -s -X POST $BRIDGE/v1/click-to-call -H "Authorization: Bearer $AGENT" -H 'Content-Type: application/json' -d '{"record_id":"%[11]s"}'
  # Luis has no mobile number, so his notification failed the mapping's required
  # "to" rule and went to the dead letters (admin page, or the API below).
  # Replaying it as it is fails again, and says so, linked to the first failure:
  # the notification carries the fields Salesforce sent. Give Luis a number in
  # the console (Edit, MobilePhone, Save): that sends a fresh Outbound Message
  # and opens his task.
  curl -s $BRIDGE/admin/api/deadletters -H "Authorization: Bearer $ADMIN"
  # ask Rosa (a case) for her close contacts from Flex: 202 {"sent":false} while
  # her link is out and unused; each contact she names becomes a Salesforce
  # contact and an outreach task that says nothing of her
  curl -s -X POST $BRIDGE/v1/records/%[19]s/elicitation -H "Authorization: Bearer $AGENT"
  # Sam texts STOP, signed as Twilio signs it (what the console's SMS form does):
  go run ./cmd/bridge twilio sign --post --url $BRIDGE/webhooks/twilio/sms \
    AccountSid=$BRIDGE_TWILIO_ACCOUNT_SID MessageSid=%[12]s \
    From=+17185550188 To=%[13]s Body=STOP OptOutType=STOP
  # Mei's call outcome, as TaskRouter's signed event (the console's Complete… sends
  # it through the Twilio stand-in, which also marks the task completed):
  go run ./cmd/bridge twilio sign --post --url $BRIDGE/webhooks/twilio/taskrouter \
    AccountSid=$BRIDGE_TWILIO_ACCOUNT_SID WorkspaceSid=$BRIDGE_TWILIO_WORKSPACE_SID \
    Sid=%[17]s EventType=task.completed TaskSid=%[18]s \
    TaskAssignmentStatus=completed TaskAge=95 \
    TaskAttributes='{"crm":{"record_id":"%[10]s","object":"Contact"},"conversations":{"outcome":"Left voicemail"}}'

  # what the Twilio stand-in holds, as Twilio's REST API answers it
  curl -s -u $BRIDGE_TWILIO_ACCOUNT_SID:$BRIDGE_TWILIO_AUTH_TOKEN $TWILIO_SIM/v1/Workspaces/$BRIDGE_TWILIO_WORKSPACE_SID/Tasks
  # another agent token (bridge token reads BRIDGE_JWT_SECRET)
  go run ./cmd/bridge token --role agent --sub ana --worker-sid %[16]s --ttl 8h

Ctrl-C stops everything.
`, publicURL, walk, admin, agent, tw.AuthToken, tw.AccountSID, outboundToken, sf.URL, tw.URL, ids[2], ids[4], "SM"+randomHex(16), demoServiceNumber,
		string(cfg.JWT.Secret), tw.WorkspaceSID, tw.WorkerSID, "EV"+randomHex(16), taskOf(tw, ids[2]), ids[5])

	<-ctx.Done()
	return 0
}

// demoHandler serves the console under /demo/ and the bridge everywhere else.
func demoHandler(console, bridge http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/demo":
			http.Redirect(w, r, democonsole.Prefix, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, democonsole.Prefix):
			console.ServeHTTP(w, r)
		default:
			bridge.ServeHTTP(w, r)
		}
	})
}

// listenDemo listens on addr if free, else on a free port of its host.
func listenDemo(addr string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			return nil, "", fmt.Errorf("BRIDGE_ADDR %s: %w", addr, err)
		}
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return nil, "", err
		}
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return ln, "http://" + net.JoinHostPort(host, port), nil
}

func seedContacts(sf *sfsim.Server) []string {
	today := time.Now().Format("2006-01-02")
	var ids []string
	for i, c := range demoContacts {
		rec := map[string]any{
			"FirstName": c.first, "LastName": c.last, "Preferred_Language__c": c.language,
			"Outreach_Status__c": c.outreach, "Case_Number__c": fmt.Sprintf("NYC-2026-%06d", 100+i),
			"Priority__c": float64(len(demoContacts) - i), "Index_Case_Name__c": "Protected Person",
		}
		if c.phone != "" {
			rec["MobilePhone"] = c.phone
		}
		if c.monitoring != "" {
			rec["Monitoring_Status__c"] = c.monitoring
			rec["Monitoring_Start__c"] = today
		}
		if c.elicitation != "" {
			rec["Elicitation_Status__c"] = c.elicitation
		}
		ids = append(ids, sf.AddRecord("Contact", rec))
	}
	return ids
}

// soapNumber renders a number as an Outbound Message does ("2.0").
func soapNumber(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// playThrough sends the seeded contacts through record sync and monitoring,
// then completes Alex's task in Flex so the outcome is written back.
func playThrough(ctx context.Context, publicURL, outboundURL string, sf *sfsim.Server, tw *twiliosim.Server, ids []string) string {
	var b strings.Builder
	var notes []string
	for i, id := range ids {
		rec := sf.Record("Contact", id)
		var fields strings.Builder
		for k, v := range rec {
			if s, ok := v.(string); ok && k != "attributes" {
				fmt.Fprintf(&fields, "<sf:%s>%s</sf:%s>", k, xmlEscape(s), k)
			} else if f, ok := v.(float64); ok {
				// SOAP carries every number as an xsd:double: 2 is "2.0".
				fmt.Fprintf(&fields, "<sf:%s>%s</sf:%s>", k, soapNumber(f), k)
			}
		}
		notes = append(notes, fmt.Sprintf(`<Notification><Id>04lRM0000DEMO%05d</Id><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">%s</sObject></Notification>`, i, fields.String()))
	}
	soap := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>` +
		demoOrgID + `</OrganizationId><ActionId>04kRM0000000XyZYAU</ActionId>` + strings.Join(notes, "") + `</notifications></soapenv:Body></soapenv:Envelope>`
	resp, err := http.Post(outboundURL, "text/xml; charset=utf-8", strings.NewReader(soap))
	if err != nil {
		return "  (could not post the sample Outbound Message: " + err.Error() + ")\n"
	}
	resp.Body.Close()
	fmt.Fprintf(&b, "  - an Outbound Message with %d contacts was acknowledged (HTTP %d)\n", len(ids), resp.StatusCode)

	wait := func(cond func() bool) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if cond() || ctx.Err() != nil {
				return cond()
			}
		}
		return false
	}
	wait(func() bool { return len(tw.OpenTasks()) >= 3 && len(tw.Scheduled()) >= 2 })
	fmt.Fprintf(&b, "  - record sync opened %d outreach tasks in TaskRouter\n", len(tw.OpenTasks()))
	fmt.Fprintf(&b, "  - monitoring scheduled %d reminder SMS\n", len(tw.Scheduled()))
	for _, m := range tw.Scheduled() {
		if link := regexp.MustCompile(`https?://\S+/survey/\S+`).FindString(m.Body); link != "" {
			fmt.Fprintf(&b, "  - a survey link from the first reminder: %s\n", link)
			break
		}
	}
	for _, t := range tw.OpenTasks() {
		crm, _ := t.Attributes["crm"].(map[string]any)
		if crm["record_id"] != ids[0] {
			continue
		}
		followUp := time.Now().AddDate(0, 0, 2).Format("2006-01-02")
		if err := tw.CompleteTask(t.SID, map[string]any{"conversations": map[string]any{"outcome": "Reached - agreed to quarantine", "talk_time": 184}, "follow_up_date": followUp, "call_sid": "CA00000000000000000000000000000001"}); err != nil {
			fmt.Fprintf(&b, "  - completing a task failed: %v\n", err)
			break
		}
		if wait(func() bool { return len(sf.Records("Task")) >= 2 }) {
			fmt.Fprintf(&b, "  - a tracer completed Alex's call in Flex; the outcome and a follow-up on %s are now Tasks in Salesforce\n", followUp)
		}
	}
	if wait(func() bool { return reportLink(tw) != "" }) {
		fmt.Fprintf(&b, "  - Rosa (a case) was texted a self-report link; open it to name her close contacts:\n      %s\n", reportLink(tw))
	}
	return b.String()
}

// reportLink is the self-report link in the first SMS that carries one.
func reportLink(tw *twiliosim.Server) string {
	for _, m := range tw.Messages() {
		if link := regexp.MustCompile(`https?://\S+/report/\S+`).FindString(m.Body); link != "" {
			return link
		}
	}
	return ""
}

// taskOf is the open task of a record, or a placeholder when it has none.
func taskOf(tw *twiliosim.Server, recordID string) string {
	for _, t := range tw.OpenTasks() {
		if crm, _ := t.Attributes["crm"].(map[string]any); crm["record_id"] == recordID {
			return t.SID
		}
	}
	return "WT…"
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func randomSecret() string { return rand.Text() + rand.Text() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
