package e2e

// The attacks of issue 13, each performed against a running bridge (real
// Redis, the stand-ins) and each shown refused with nothing written to
// Redis, Salesforce or Twilio. docs/SECURITY.md names these tests.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/server"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/sfsim"
	"github.com/cityhealth/bridge/test/twiliosim"
	"github.com/cityhealth/bridge/test/world"
)

// foldNext regroups a signed form as an attacker can: the key after key (in
// the sorted order the signature concatenates) and its value are appended
// to key's value and removed. The signature stays valid.
func foldNext(form url.Values, key string) url.Values {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	for i, k := range keys {
		if k == key && i+1 < len(keys) {
			next := keys[i+1]
			out.Set(key, form.Get(key)+next+form.Get(next))
			out.Del(next)
		}
	}
	return out
}

func smsForm(b *Bridge, messageSID, from, body, optOut string) url.Values {
	f := url.Values{}
	for _, line := range strings.Split(Testdata(b.tb, "twilio-sms-inbound.txt"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			f.Set(k, v)
		}
	}
	f.Set("AccountSid", b.Config.Twilio.AccountSID)
	for _, k := range []string{"MessageSid", "SmsSid", "SmsMessageSid"} {
		f.Set(k, messageSID)
	}
	f.Set("From", from)
	f.Set("Body", body)
	if optOut == "" {
		f.Del("OptOutType")
	} else {
		f.Set("OptOutType", optOut)
	}
	return f
}

func sign(b *Bridge, path string, form url.Values) string {
	return twilio.Sign(b.Config.Twilio.AuthToken, PublicURL+path, form)
}

// 1. A forged Outbound Message (the org id is no secret) is refused without
// the token; serve does not start without one.
func TestSecurityOutboundMessageNeedsToken(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Mallory", world.OutboundToken)
	forged := OutboundMessage(SampleOrgID, Notification{ID: NotificationID(901),
		Fields: contact(ContactID(901), "Mallory", "(212) 555-0166", "Needs Outreach")})
	before, calls := b.RedisState(), b.Counters()
	for _, path := range []string{
		"/webhooks/salesforce/outbound",
		"/webhooks/salesforce/outbound?token=",
		"/webhooks/salesforce/outbound?token=" + strings.Repeat("x", len(world.OutboundToken)),
		"/webhooks/salesforce/outbound?token=" + world.OutboundToken[:len(world.OutboundToken)-1],
		"/webhooks/salesforce/outbound?token=" + world.OutboundToken + "x",
	} {
		resp, body := b.PostOutbound(path, forged)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), world.OutboundToken) {
			t.Fatalf("%s: want 403 without the token echoed, got %d %s", path, resp.StatusCode, body)
		}
	}
	b.MustBeUnchanged(t, before)
	b.MustNoVendorCalls(t, calls)

	// serve stops at start, naming the variable, without the token or with
	// a short one; so it does for short secrets.
	env := b.env()
	for name, value := range map[string]string{
		"BRIDGE_SF_OUTBOUND_TOKEN": "", "BRIDGE_PROTECTED_FIELDS": "",
	} {
		e := copyEnv(env)
		e[name] = value
		_, err := config.Load(config.MapSource(e), config.ModeServe)
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") {
			t.Fatalf("serve without %s: %v", name, err)
		}
	}
	for _, name := range []string{"BRIDGE_SF_OUTBOUND_TOKEN", "BRIDGE_JWT_SECRET", "BRIDGE_SURVEY_SECRET"} {
		e := copyEnv(env)
		e[name] = "thirty-one-characters-long-0123"
		_, err := config.Load(config.MapSource(e), config.ModeServe)
		if err == nil || !strings.HasPrefix(err.Error(), name+": must be at least 32") || strings.Contains(err.Error(), e[name]) {
			t.Fatalf("serve with a short %s: %v", name, err)
		}
	}
}

func copyEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	return out
}

// 2. Regrouped signed parameters: a valid signature over moved key/value
// boundaries is refused (400) before anything is recorded.
func TestSecurityRegroupedSignedParameters(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{Env: AllDaysAtTwilio})
	b.Log.Plant("(917) 555-0193", "please call me")
	id, _ := monitoredContact(t, b, 7, "(917) 555-0193")
	Eventually(t, wait, "reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })

	// A reply, delivered once: one activity.
	reply := smsForm(b, sid("SM", 701), "+19175550193", "please call me", "")
	if resp, body := b.PostTwilio(PathSMS, reply); resp.StatusCode != http.StatusOK {
		t.Fatalf("reply: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "the reply activity", func() bool { return len(b.SF.Records("Task")) == 1 })
	b.Settle(wait)

	// START, then a newer STOP.
	start := smsForm(b, sid("SM", 702), "+19175550193", "START", "START")
	if resp, body := b.PostTwilio(PathSMS, start); resp.StatusCode != http.StatusOK {
		t.Fatalf("START: %d %s", resp.StatusCode, body)
	}
	b.Settle(wait)
	stop := smsForm(b, sid("SM", 703), "+19175550193", "STOP", "STOP")
	if resp, body := b.PostTwilio(PathSMS, stop); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOP: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "reminders canceled", func() bool { return len(b.Twilio.Scheduled()) == 0 })
	Eventually(t, wait, "opt-out", func() bool { return b.SF.Record("Contact", id)["SMS_Opt_Out__c"] == true })
	b.Settle(wait)

	// A TaskRouter event, delivered once.
	event := TaskEvent(t, sid("EV", 704), sid("WT", 704), id, nil)
	event.Set("AccountSid", b.Config.Twilio.AccountSID)
	if resp, body := b.PostTwilio(PathTaskRouter, event); resp.StatusCode != http.StatusOK {
		t.Fatalf("event: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "the outcome", func() bool { return rowsByExternalID(b)[sid("WT", 704)] == 1 })
	b.Settle(wait)

	before, calls, activities := b.RedisState(), b.Counters(), len(b.SF.Records("Task"))
	otherAccount := smsForm(b, sid("SM", 705), "+19175550193", "please call me", "")
	otherAccount.Set("AccountSid", sid("AC", 705))
	strict := TaskEvent(t, sid("EV", 706), sid("WT", 706), id, nil)
	strict.Set("AccountSid", b.Config.Twilio.AccountSID)
	strict.Set("TaskAge", "412abc")
	attacks := []struct {
		name, path string
		form       url.Values
		signature  string
	}{
		// The reply again under a new MessageSid (MessagingServiceSid folded in).
		{"reply with MessageSid regrouped", PathSMS, foldNext(reply, "MessageSid"), sign(b, PathSMS, reply)},
		// The older START again under a new dedupe key, after the STOP.
		{"START with MessageSid regrouped", PathSMS, foldNext(start, "MessageSid"), sign(b, PathSMS, start)},
		{"START with MessagingServiceSid regrouped", PathSMS, foldNext(start, "MessagingServiceSid"), sign(b, PathSMS, start)},
		// Sid folded into ResourceType: the event's own id gone.
		{"event with Sid folded into ResourceType", PathTaskRouter, foldNext(event, "ResourceType"), sign(b, PathTaskRouter, event)},
		{"event with TaskSid regrouped", PathTaskRouter, foldNext(event, "TaskSid"), sign(b, PathTaskRouter, event)},
		// Validly signed, but another account's, or a number with junk.
		{"another account", PathSMS, otherAccount, sign(b, PathSMS, otherAccount)},
		{"TaskAge not a number", PathTaskRouter, strict, sign(b, PathTaskRouter, strict)},
	}
	for _, a := range attacks {
		req := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": a.signature,
			"I-Twilio-Idempotency-Token": fmt.Sprintf("attacker-%d", time.Now().UnixNano())}
		resp, body := b.Do(http.MethodPost, a.path, a.form.Encode(), req)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: want 400, got %d %s", a.name, resp.StatusCode, body)
		}
	}
	// The START replayed verbatim is a duplicate: acknowledged, not applied.
	if resp, body := b.PostTwilioSigned(PathSMS, start, sign(b, PathSMS, start)); resp.StatusCode != http.StatusOK {
		t.Fatalf("verbatim replay: %d %s", resp.StatusCode, body)
	}
	b.Settle(wait)
	b.MustBeUnchanged(t, before)
	b.MustNoVendorCalls(t, calls)
	if n := len(b.SF.Records("Task")); n != activities {
		t.Fatalf("%d activities, want %d", n, activities)
	}
	if len(b.Twilio.Scheduled()) != 0 || b.SF.Record("Contact", id)["SMS_Opt_Out__c"] != true {
		t.Fatal("a regrouped or replayed START undid the STOP")
	}
}

// Paths the tests post to.
const (
	PathSMS        = "/webhooks/twilio/sms"
	PathTaskRouter = "/webhooks/twilio/taskrouter"
)

// 3. A trickled body is cut off by ReadTimeout, and /healthz keeps
// answering; a Twilio webhook without a signature is refused before its
// body is read.
func TestSecuritySlowBodyCutOffAndUnsignedRefusedUnread(t *testing.T) {
	t.Parallel()
	tuning := DefaultTuning()
	tuning.HTTP = server.HTTPTimeouts{ReadHeader: time.Second, Read: 2 * time.Second, Write: 5 * time.Second, Idle: 2 * time.Second}
	b := MustStart(t, Options{Tuning: &tuning})
	before, calls := b.RedisState(), b.Counters()

	// Ten trickling clients: one byte every 300 ms of a 1,000-byte body.
	addr := strings.TrimPrefix(b.URL, "http://")
	done := make(chan time.Duration, 10)
	for range 10 {
		go func() {
			startAt := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				done <- -1
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/click-to-call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", b.AgentToken)
			for i := 0; i < 1000; i++ {
				if _, err := c.Write([]byte(" ")); err != nil {
					break
				}
				time.Sleep(300 * time.Millisecond)
				if time.Since(startAt) > 20*time.Second {
					done <- -1
					return
				}
			}
			done <- time.Since(startAt)
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if resp, _ := b.Do(http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz during the trickle: %d", resp.StatusCode)
	}
	var longest time.Duration
	for range 10 {
		d := <-done
		if d < 0 || d > 10*time.Second {
			t.Fatalf("a trickling body was not cut off (held %v)", d)
		}
		longest = max(longest, d)
	}
	t.Logf("ten trickling bodies cut off; the longest held its socket %v (ReadTimeout 2s)", longest.Round(time.Millisecond))

	// No signature: 403 although the promised body never comes.
	for _, path := range []string{PathSMS, PathTaskRouter} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\nBody=STOP", path)
		_ = c.SetReadDeadline(time.Now().Add(time.Second)) // well under ReadTimeout: not a timeout answer
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer before the body: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s without a signature: %d, want 403", path, resp.StatusCode)
		}
	}
	b.MustBeUnchanged(t, before)
	b.MustNoVendorCalls(t, calls)
}

// 4. BRIDGE_PROTECTED_FIELDS cannot be lifted by a save or a draft preview,
// a preview never returns a protected value, and every preview is audited.
func TestSecurityProtectedFieldsCannotBeLifted(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example")
	id := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Quinn", "LastName": "T", "MobilePhone": "(646) 555-0175",
		"Index_Case_Name__c": "Jordan Example", "Outreach_Status__c": "Needs Outreach"})
	admin := map[string]string{"Authorization": "Bearer " + b.AdminToken}
	lifted := "record_to_task:\n  object: Contact\n  when: {field: Outreach_Status__c, create: [Needs Outreach]}\n" +
		"  attributes:\n    to: {field: MobilePhone, transform: e164, required: true}\n    index: {field: Index_Case_Name__c}\nprotected: []\n"
	version := b.Server.MappingVersion()
	before, calls := b.RedisState(), b.Counters()

	resp, body := b.Do(http.MethodPut, "/admin/api/mappings", lifted, map[string]string{"Authorization": admin["Authorization"], "Content-Type": "application/yaml"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Index_Case_Name__c") {
		t.Fatalf("save lifting a protected field: %d %s", resp.StatusCode, body)
	}
	for _, req := range []string{
		fmt.Sprintf(`{"flow":"record_to_task","record_id":%q,"mapping":%q}`, id, lifted),
		fmt.Sprintf(`{"flow":"record_to_task","record":{"Id":%q,"MobilePhone":"+16465550175","Index_Case_Name__c":"Jordan Example","Outreach_Status__c":"Needs Outreach"},"mapping":%q}`, id, lifted),
	} {
		resp, body := b.Do(http.MethodPost, "/admin/api/mappings/preview", req, map[string]string{"Authorization": admin["Authorization"], "Content-Type": "application/json"})
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "Jordan") {
			t.Fatalf("draft preview lifting a protected field: %d %s", resp.StatusCode, body)
		}
	}
	b.MustBeUnchanged(t, before)
	b.MustNoVendorCalls(t, calls) // the refused draft read nothing from Salesforce
	if v := b.Server.MappingVersion(); v != version {
		t.Fatalf("mapping version moved from %d to %d", version, v)
	}

	// An allowed preview reads the record and returns no protected value.
	resp, body = b.Do(http.MethodPost, "/admin/api/mappings/preview", fmt.Sprintf(`{"flow":"record_to_task","record_id":%q}`, id[:15]),
		map[string]string{"Authorization": admin["Authorization"], "Content-Type": "application/json"})
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "Jordan") {
		t.Fatalf("preview: %d %s", resp.StatusCode, body)
	}
	log := b.Log.String()
	if n := strings.Count(log, `"action":"mapping.preview"`); n != 3 {
		t.Fatalf("%d preview audit lines, want 3", n)
	}
	if !strings.Contains(log, `"record_id":"`+id+`"`) || !strings.Contains(log, `"who":"ada-admin"`) {
		t.Fatal("the preview audit line lacks who or the record id")
	}
}

// 5. Every route family has its body limit: 413, read no further, nothing
// written.
func TestSecurityBodyLimits(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	before, calls := b.RedisState(), b.Counters()
	big := func(n int) string { return strings.Repeat("a", n) }
	smsBig := smsForm(b, sid("SM", 501), "+19175550100", big(65<<10), "")
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
	}{
		{"agent JSON over 64 KB", http.MethodPost, "/v1/click-to-call", `{"record_id":"` + big(65<<10) + `"}`,
			map[string]string{"Authorization": "Bearer " + b.AgentToken, "Content-Type": "application/json"}},
		{"admin over 1 MB", http.MethodPut, "/admin/api/mappings", "# " + big(1<<20),
			map[string]string{"Authorization": "Bearer " + b.AdminToken, "Content-Type": "application/yaml"}},
		{"admin preview over 1 MB", http.MethodPost, "/admin/api/mappings/preview", `{"flow":"` + big(1<<20) + `"}`,
			map[string]string{"Authorization": "Bearer " + b.AdminToken, "Content-Type": "application/json"}},
		{"Twilio form over 64 KB", http.MethodPost, PathSMS, smsBig.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, PathSMS, smsBig)}},
		{"Outbound Message over 5 MB", http.MethodPost, world.OutboundPath,
			OutboundMessage(SampleOrgID, Notification{ID: NotificationID(502), Fields: contact(ContactID(502), big(5<<20), "(212) 555-0100", "Needs Outreach")}),
			map[string]string{"Content-Type": "text/xml; charset=utf-8"}},
	}
	for _, tc := range cases {
		resp, body := b.Do(tc.method, tc.path, tc.body, tc.header)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d %.200s, want 413", tc.name, resp.StatusCode, body)
		}
		// Without a Content-Length (chunked) the body is cut at the limit.
		req, _ := http.NewRequest(tc.method, b.URL+tc.path, io.MultiReader(strings.NewReader(tc.body)))
		req.ContentLength = -1
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		cresp, err := b.HTTP.Do(req)
		if err == nil {
			io.Copy(io.Discard, cresp.Body)
			cresp.Body.Close()
			if cresp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s, chunked: %d, want 413", tc.name, cresp.StatusCode)
			}
		}
	}
	b.MustBeUnchanged(t, before)
	b.MustNoVendorCalls(t, calls)
}

// 6. The 15- and 18-character ids (and an 18 with its case lost) are one
// record: one click-to-call task, one context read, one outreach task.
func TestSecurityFifteenAndEighteenCharIDsAreOneRecord(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("(646) 555-0177")
	id := seedContact(b, "Rowan", "(646) 555-0177")
	resp, first := b.click(b.AgentToken, id)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("click: %d %v", resp.StatusCode, first)
	}
	for _, spelling := range []string{id[:15], strings.ToLower(id), strings.ToUpper(id[:15])} {
		resp, again := b.click(b.AgentToken, spelling)
		if spelling == strings.ToUpper(id[:15]) {
			// Another 15-character id (case matters there): another record.
			if resp.StatusCode == http.StatusOK && again["task_sid"] == first["task_sid"] {
				t.Fatalf("%s was taken for %s", spelling, id)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || again["task_sid"] != first["task_sid"] {
			t.Fatalf("click with %s: %d %v, want 200 and the first task", spelling, resp.StatusCode, again)
		}
	}
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks for one record", n)
	}
	reads := b.SF.APICalls()
	for _, spelling := range []string{id, id[:15]} {
		if resp, body := b.Do(http.MethodGet, "/v1/records/"+spelling+"/context", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken}); resp.StatusCode != http.StatusOK {
			t.Fatalf("context %s: %d %s", spelling, resp.StatusCode, body)
		}
	}
	if n := b.SF.APICalls() - reads; n > 1 {
		t.Fatalf("the two spellings cost %d Salesforce reads; one cache entry should serve both", n)
	}

	// Outbound Messages: the same record in both spellings opens one task.
	other := ContactID(611)
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(611), Fields: contact(other[:15], "Sage", "(212) 555-0161", "Needs Outreach")}))
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(612), Fields: contact(strings.ToLower(other), "Sage", "(212) 555-0161", "Needs Outreach")}))
	b.Settle(wait)
	n := 0
	for _, task := range b.Twilio.Tasks() {
		if crm, _ := task.Attributes["crm"].(map[string]any); crm["record_id"] == other {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d outreach tasks for one record in two spellings", n)
	}
}

// 7. Anonymous requests cost no outside calls: a refused Flex token is
// remembered, fresh random ones are rate limited, and /readyz logs in to
// Salesforce at most once per 30 s.
func TestSecurityAnonymousRequestsCostNoOutsideCalls(t *testing.T) {
	t.Parallel()
	sf := sfsim.New(sfsim.Options{OrgID: SampleOrgID})
	t.Cleanup(sf.Close)
	sf.FailToken(1000, "invalid_grant", "user hasn't approved this consumer")
	b := MustStart(t, Options{SF: sf})
	before := b.RedisState()

	ctx := "/v1/records/" + ContactID(1) + "/context"
	for range 5 {
		resp, _ := b.Do(http.MethodGet, ctx, nil, map[string]string{auth.HeaderFlexToken: "eyJ.same-refused-token"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refused Flex token: %d", resp.StatusCode)
		}
	}
	if n := b.Twilio.Calls(twiliosim.OpValidateToken); n != 1 {
		t.Fatalf("a refused token repeated 5 times cost %d IAM calls, want 1", n)
	}
	for i := range 100 {
		resp, _ := b.Do(http.MethodGet, ctx, nil, map[string]string{auth.HeaderFlexToken: fmt.Sprintf("eyJ.random-%d", i)})
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("random Flex token: %d", resp.StatusCode)
		}
	}
	t.Logf("100 random Flex tokens cost %d IAM calls", b.Twilio.Calls(twiliosim.OpValidateToken)-1)
	if n := b.Twilio.Calls(twiliosim.OpValidateToken); n > 1+auth.DefaultFlexBurst+10 {
		t.Fatalf("100 random tokens cost %d IAM calls; the rate limit allows about %d", n, auth.DefaultFlexBurst)
	}

	logins := sf.TokenCalls()
	for range 20 {
		if resp, _ := b.Do(http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz with Salesforce refusing logins: %d", resp.StatusCode)
		}
	}
	first := sf.TokenCalls() - logins
	for range 20 {
		b.Do(http.MethodGet, "/readyz", nil, nil)
	}
	t.Logf("40 /readyz with Salesforce refusing logins cost %d token requests", sf.TokenCalls()-logins)
	if again := sf.TokenCalls() - logins; again != first || first > 3 {
		t.Fatalf("40 /readyz cost %d logins (the first 20: %d); want one attempt per 30 s", again, first)
	}
	b.MustBeUnchanged(t, before)
	if n := sf.APICalls(); n != 0 {
		t.Fatalf("anonymous requests made %d Salesforce API calls", n)
	}
}

// 8. With Redis down, every route that needs it answers 503 (none 500).
func TestSecurityRedisDownEveryRoute503(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := seedContact(b, "Avery", "(646) 555-0178")
	links, err := survey.NewLinks(survey.LinksConfig{Secret: b.Config.SurveySecret, PublicURL: PublicURL})
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().Format("2006-01-02")
	tok, err := links.Token(id, today, "en", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	event := TaskEvent(t, sid("EV", 801), sid("WT", 801), id, nil)
	event.Set("AccountSid", b.Config.Twilio.AccountSID)
	reply := smsForm(b, sid("SM", 802), "+16465550178", "hello", "")
	status := url.Values{"AccountSid": {b.Config.Twilio.AccountSID}, "MessageSid": {sid("SM", 804)}, "MessageStatus": {"undelivered"},
		"ErrorCode": {"30006"}, "To": {"+16465550178"}, "From": {"+12125550100"}}
	reportLinks, err := survey.NewReportLinks(survey.LinksConfig{Secret: b.Config.SurveySecret, PublicURL: PublicURL})
	if err != nil {
		t.Fatal(err)
	}
	report, _, err := reportLinks.Mint(id, "en")
	if err != nil {
		t.Fatal(err)
	}
	admin := map[string]string{"Authorization": "Bearer " + b.AdminToken, "Content-Type": "application/json"}
	agent := map[string]string{"Authorization": "Bearer " + b.AgentToken, "Content-Type": "application/json"}
	doc := Testdata(t, "mapping.yaml")
	call := url.Values{"CallSid": {sid("CA", 804)}, "AccountSid": {b.Config.Twilio.AccountSID}}
	voicePath, answerPath := "/webhooks/twilio/voice/"+tok, "/webhooks/twilio/voice/"+tok+"/answer?q=1&a=1&n=0"
	answer := url.Values{"CallSid": {sid("CA", 804)}, "AccountSid": {b.Config.Twilio.AccountSID}, "Digits": {"2"}}

	b.Redis.Stop()
	type route struct {
		method, path string
		body         string
		header       map[string]string
		want         int // 503, or 200 for routes that need no Redis
	}
	routes := []route{
		{http.MethodPost, world.OutboundPath, OutboundMessage(SampleOrgID, Notification{ID: NotificationID(803), Fields: contact(ContactID(803), "Avery", "(212) 555-0103", "Needs Outreach")}), map[string]string{"Content-Type": "text/xml"}, 503},
		{http.MethodPost, PathTaskRouter, event.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, PathTaskRouter, event)}, 503},
		{http.MethodPost, PathSMS, reply.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, PathSMS, reply)}, 503},
		{http.MethodPost, "/webhooks/twilio/status", status.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, "/webhooks/twilio/status", status)}, 503},
		{http.MethodPost, "/v1/click-to-call", fmt.Sprintf(`{"record_id":%q}`, id), agent, 503},
		{http.MethodPost, "/v1/records/" + id + "/elicitation", "", agent, 503},
		// Redis only caches these: Salesforce and the mapping answer.
		{http.MethodGet, "/v1/callers/+16465550178", "", agent, 200},
		{http.MethodGet, "/v1/wrapup", "", agent, 200},
		{http.MethodGet, "/report/" + report, "", nil, 503},
		{http.MethodPost, "/report/" + report, "first_name.0=Bo&phone.0=7185550199", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 503},
		{http.MethodGet, "/admin/api/monitoring", "", admin, 503},
		// The context is cached in Redis but needs it not: Salesforce answers.
		{http.MethodGet, "/v1/records/" + id + "/context", "", agent, 200},
		{http.MethodGet, "/survey/" + tok, "", nil, 503},
		{http.MethodPost, "/survey/" + tok, "Fever__c=no&Cough__c=no", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 503},
		{http.MethodPost, voicePath, call.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, voicePath, call)}, 503},
		{http.MethodPost, answerPath, answer.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(b, answerPath, answer)}, 503},
		{http.MethodGet, "/admin/api/mappings", "", admin, 503},
		{http.MethodPut, "/admin/api/mappings", doc, map[string]string{"Authorization": admin["Authorization"], "Content-Type": "application/yaml"}, 503},
		{http.MethodGet, "/admin/api/mappings/history", "", admin, 503},
		{http.MethodPost, "/admin/api/mappings/rollback?version=1", "", admin, 503},
		{http.MethodGet, "/admin/api/deadletters", "", admin, 503},
		{http.MethodPost, "/admin/api/deadletters/writeback:1-0/replay", "", admin, 503},
		{http.MethodGet, "/readyz", "", nil, 503},
		{http.MethodGet, "/healthz", "", nil, 200},
		{http.MethodGet, "/metrics", "", nil, 200},
		{http.MethodGet, "/admin/", "", nil, 200},
	}
	calls := b.Counters()
	for _, r := range routes {
		var body any
		if r.body != "" {
			body = r.body
		}
		resp, out := b.Do(r.method, r.path, body, r.header)
		if resp.StatusCode != r.want {
			t.Errorf("%s %s with Redis down: %d %.200s, want %d", r.method, strings.SplitN(r.path, "?", 2)[0], resp.StatusCode, out, r.want)
		}
	}
	if c := b.Counters(); c.Twilio != calls.Twilio {
		t.Fatalf("Redis down, yet %d Twilio calls", c.Twilio-calls.Twilio)
	}
}

// 9. Agent and admin tokens issued in the future or living longer than
// BRIDGE_JWT_MAX_TTL are refused; during a rotation both JWT secrets, both
// survey secrets and both Twilio auth tokens are accepted.
func TestSecurityTokenLifetimesAndRotation(t *testing.T) {
	t.Parallel()
	oldJWT, oldSurvey, oldTwilio := "old-jwt-secret-0123456789abcdef0123456789", "old-survey-secret-0123456789abcdef01234", "00112233445566778899aabbccddeeff"
	b := MustStart(t, Options{Env: map[string]string{
		"BRIDGE_JWT_MAX_TTL": "8h", "BRIDGE_JWT_SECRET_PREVIOUS": oldJWT,
		"BRIDGE_SURVEY_SECRET_PREVIOUS": oldSurvey, "BRIDGE_TWILIO_AUTH_TOKEN_PREVIOUS": oldTwilio,
	}})
	id := seedContact(b, "Blair", "(646) 555-0179")
	mint := func(secret string, ttl time.Duration, now time.Time) string {
		tok, err := auth.Mint([]byte(secret), auth.MintClaims{Subject: "ana", Role: auth.RoleAdmin, Issuer: "bridge", Audience: "bridge", TTL: ttl, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	secret := string(b.Config.JWT.Secret)
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"8 h", mint(secret, 8*time.Hour, time.Now()), 200},
		{"9 h", mint(secret, 9*time.Hour, time.Now()), 401},
		{"a year", mint(secret, 365*24*time.Hour, time.Now()), 401},
		{"issued in an hour", mint(secret, 2*time.Hour, time.Now().Add(time.Hour)), 401},
		{"previous secret", mint(oldJWT, time.Hour, time.Now()), 200},
		{"unknown secret", mint("unknown-secret-0123456789abcdef0123456789", time.Hour, time.Now()), 401},
	}
	for _, tc := range cases {
		resp, body := b.Do(http.MethodGet, "/admin/api/deadletters", nil, map[string]string{"Authorization": "Bearer " + tc.token})
		if resp.StatusCode != tc.want {
			t.Fatalf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}

	// A survey link signed with the previous secret still opens.
	old, _ := survey.NewLinks(survey.LinksConfig{Secret: []byte(oldSurvey), PublicURL: PublicURL})
	tok, _ := old.Token(id, time.Now().Format("2006-01-02"), "en", time.Now().Add(24*time.Hour))
	if resp, _ := b.Do(http.MethodGet, "/survey/"+tok, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("survey link under the previous secret: %d", resp.StatusCode)
	}

	// A webhook signed with the previous Twilio auth token is accepted.
	reply := smsForm(b, sid("SM", 901), "+16465550179", "hello", "")
	if resp, body := b.PostTwilioSigned(PathSMS, reply, twilio.Sign(oldTwilio, PublicURL+PathSMS, reply)); resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook under the previous auth token: %d %s", resp.StatusCode, body)
	}
	other := smsForm(b, sid("SM", 902), "+16465550179", "hello", "")
	if resp, _ := b.PostTwilioSigned(PathSMS, other, twilio.Sign("ffeeddccbbaa99887766554433221100", PublicURL+PathSMS, other)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("webhook under an unknown auth token: %d", resp.StatusCode)
	}

}
