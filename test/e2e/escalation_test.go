package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/escalation"
	"github.com/cityhealth/bridge/test/redistest"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// escalateSection is SPEC's escalate example, added to the e2e mapping.
const escalateSection = `
escalate:
  when: {Fever__c: true}
  missed_days: 2
  grace: 12h
  priority: 100
  keywords: {en: [sick, fever], es: [enfermo, fiebre]}
`

func escalationMapping(t *testing.T) string { return Testdata(t, "mapping.yaml") + escalateSection }

// testClock is the bridge's and the Twilio stand-in's clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var newYork = func() *time.Location {
	l, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	return l
}()

// escalationWorld starts a bridge on a test clock at 08:00 New York on a
// Tuesday, with the escalate section in force.
func escalationWorld(t *testing.T, env map[string]string) (*Bridge, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 3, 3, 8, 0, 0, 0, newYork)}
	tw := twiliosim.New(twiliosim.Options{Now: clk.Now})
	t.Cleanup(tw.Close)
	// A 1 s Twilio timeout: the connector logs a timed-out call's duration
	// in ns, and 2,000,xxx,xxx ns reads as a phone number to the leak check.
	tuning := DefaultTuning()
	tuning.TwilioTimeout = time.Second
	all := map[string]string{}
	for k, v := range AllDaysAtTwilio { // these tests count 14 days at Twilio
		all[k] = v
	}
	for k, v := range env {
		all[k] = v
	}
	b := MustStart(t, Options{Mapping: escalationMapping(t), Now: clk.Now, Twilio: tw, Env: all, Tuning: &tuning})
	return b, clk
}

// contactInMonitoring seeds a contact and puts it in monitoring from the
// clock's today; it returns the id and the first day.
func contactInMonitoring(t *testing.T, b *Bridge, clk *testClock, n int, name, phone, lang string) (id, start string) {
	t.Helper()
	start = clk.Now().In(newYork).Format("2006-01-02")
	id = b.SF.AddRecord("Contact", map[string]any{"FirstName": name, "LastName": "Tester", "MobilePhone": phone,
		"Preferred_Language__c": lang, "Index_Case_Name__c": "Jordan Example"})
	fields := map[string]*string{
		"Id": S(id), "FirstName": S(name), "MobilePhone": S(phone), "Preferred_Language__c": S(lang),
		"Monitoring_Status__c": S("Active"), "Monitoring_Start__c": S(start), "Outreach_Status__c": S("Closed"),
		"Index_Case_Name__c": S("Jordan Example"),
	}
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(700 + n), Fields: fields}))
	Eventually(t, wait, "14 scheduled reminders", func() bool { return len(b.Twilio.Scheduled()) == 14 })
	b.Settle(wait)
	return id, start
}

// escalationTasks are the monitoring_escalation tasks in the stand-in.
func escalationTasks(b *Bridge) []twiliosim.Task {
	var out []twiliosim.Task
	for _, t := range b.Twilio.Tasks() {
		if t.Attributes["type"] == escalation.TaskType {
			out = append(out, t)
		}
	}
	return out
}

// escalationActivities are the activities the flow wrote (by external id).
func escalationActivities(b *Bridge) []map[string]any {
	var out []map[string]any
	for _, r := range b.SF.Records("Task") {
		if k, _ := r["Twilio_Task_Sid__c"].(string); strings.HasPrefix(k, "escalation-") {
			out = append(out, r)
		}
	}
	return out
}

// surveyLinks are the survey paths of the scheduled reminders by day.
func surveyLinks(b *Bridge) map[string]string {
	out := map[string]string{}
	for _, m := range b.Twilio.Messages() {
		if l := linkRE.FindString(m.Body); l != "" {
			out[m.SendAt.In(newYork).Format("2006-01-02")] = strings.TrimPrefix(l, PublicURL)
		}
	}
	return out
}

func postSurvey(t *testing.T, b *Bridge, path string, form url.Values) int {
	t.Helper()
	resp, _ := b.Do(http.MethodPost, path, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	return resp.StatusCode
}

func TestEscalationFeverOpensOneTask(t *testing.T) {
	t.Parallel()
	b, clk := escalationWorld(t, nil)
	b.Log.Plant("Inés", "Jordan Example", "(917) 555-0170")
	id, start := contactInMonitoring(t, b, clk, 1, "Inés", "(917) 555-0170", "Spanish")
	links := surveyLinks(b)
	day2 := mustDate(t, start).AddDate(0, 0, 1).Format("2006-01-02")
	clk.Set(clk.Now().Add(3 * time.Hour)) // 11:00, after today's reminder
	sfBefore, twBefore := b.SF.APICalls(), b.Twilio.TotalCalls()

	fever := url.Values{"Fever__c": {"yes"}, "Cough__c": {"no"}, "Other_Symptoms__c": {"my neighbour Jordan"}}
	if s := postSurvey(t, b, links[start], fever); s != http.StatusOK {
		t.Fatalf("survey: %d", s)
	}
	Eventually(t, wait, "the escalation task", func() bool { return len(escalationTasks(b)) == 1 })
	b.Settle(wait)

	task := escalationTasks(b)[0]
	crm, _ := task.Attributes["crm"].(map[string]any)
	switch {
	case task.Priority != 100:
		t.Fatalf("priority %d, want escalate.priority 100", task.Priority)
	case task.WorkflowSID != b.Twilio.WorkflowSID:
		t.Fatalf("task not on the workflow: %s", task.WorkflowSID)
	case task.Attributes["reason"] != escalation.ReasonSymptoms:
		t.Fatalf("reason %v", task.Attributes["reason"])
	case crm["record_id"] != id || crm["object"] != "Contact":
		t.Fatalf("crm %v", crm)
	case task.Attributes["to"] != "+19175550170" || task.Attributes["name"] != "Inés" || task.Attributes["language"] != "es":
		t.Fatalf("record_to_task attributes missing: %v", task.Attributes)
	}
	raw, _ := json.Marshal(task.Attributes)
	if strings.Contains(string(raw), "Jordan") {
		t.Fatalf("a protected field or the contact's free text reached the task: %s", raw)
	}
	acts := escalationActivities(b)
	if len(acts) != 1 || acts[0]["WhoId"] != id || !strings.Contains(acts[0]["Description"].(string), "Fever__c") ||
		strings.Contains(acts[0]["Description"].(string), "Jordan") {
		t.Fatalf("activity: %v", acts)
	}
	sfCost, twCost := b.SF.APICalls()-sfBefore, b.Twilio.TotalCalls()-twBefore
	t.Logf("one survey with an escalation: %d Salesforce calls (survey row, contact read, activity), %d Twilio calls", sfCost, twCost)
	if sfCost != 3 || twCost != 1 {
		t.Fatalf("cost: %d Salesforce and %d Twilio calls, want 3 and 1", sfCost, twCost)
	}

	// The same day again (409), another day's link answered today, and a
	// sick reply: still one task and one activity today.
	if s := postSurvey(t, b, links[start], fever); s != http.StatusConflict {
		t.Fatalf("second submission: %d, want 409", s)
	}
	if s := postSurvey(t, b, links[day2], fever); s != http.StatusOK {
		t.Fatalf("second link: %d", s)
	}
	// The same day's answers arriving by another channel (a voice call's
	// keypad answers reach the writeback queue under their own key).
	wq, err := redis.NewQueue(b.Redis.Client(t), redis.QueueConfig{Name: event.QueueWriteback})
	if err != nil {
		t.Fatal(err)
	}
	voice, _ := json.Marshal(event.Writeback{Survey: &event.Survey{ContactID: id, Date: start, Language: "es",
		Answers: map[string]string{"Fever__c": "yes", "Cough__c": "yes"}, SubmittedAt: clk.Now()}})
	if _, err := wq.Enqueue(context.Background(), redis.Item{Key: "voice:" + sid("CA", 70), Payload: voice}); err != nil {
		t.Fatal(err)
	}
	reply := url.Values{"MessageSid": {sid("SM", 70)}, "From": {"+19175550170"}, "To": {"+12125550100"}, "Body": {"sigo con fiebre"}}
	if resp, body := b.PostTwilio("/webhooks/twilio/sms", reply); resp.StatusCode != http.StatusOK {
		t.Fatalf("reply: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "the second day's survey row", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 2 })
	Eventually(t, wait, "the reply activity", func() bool { return len(b.SF.Records("Task")) == 2 })
	b.Settle(wait)
	if n, m, r := len(escalationTasks(b)), len(escalationActivities(b)), len(b.SF.Records("Symptom_Survey__c")); n != 1 || m != 1 || r != 2 {
		t.Fatalf("%d escalation tasks, %d activities and %d survey rows after more triggers the same day, want 1, 1 and 2", n, m, r)
	}

	// The admin view lists it, by id only.
	resp, body := b.Do(http.MethodGet, "/admin/api/monitoring", nil, map[string]string{"Authorization": "Bearer " + b.AdminToken})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), id) || !strings.Contains(string(body), `"symptoms"`) ||
		!strings.Contains(string(body), `"sms":1`) || strings.Contains(string(body), "Inés") || strings.Contains(string(body), "555") {
		t.Fatalf("monitoring view: %d %s", resp.StatusCode, body)
	}
	if _, metrics := b.Do(http.MethodGet, "/metrics", nil, nil); !strings.Contains(string(metrics), `bridge_escalations_total{reason="symptoms"} 1`) {
		t.Fatal("/metrics does not count the escalation")
	}
	if resp, _ := b.Do(http.MethodGet, "/admin/api/monitoring", nil, map[string]string{"Authorization": "Bearer " + b.AgentToken}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent token on the monitoring view: %d, want 403", resp.StatusCode)
	}
}

func TestEscalationCreateTimeoutMakesOneTask(t *testing.T) {
	t.Parallel()
	b, clk := escalationWorld(t, nil)
	id, _ := contactInMonitoring(t, b, clk, 2, "Ana", "(917) 555-0171", "English")
	// TaskRouter creates the task but answers after the client gave up.
	b.Twilio.SetLatency(twiliosim.OpCreateTask, 2*time.Second)
	reply := url.Values{"MessageSid": {sid("SM", 71)}, "From": {"+19175550171"}, "To": {"+12125550100"}, "Body": {"I feel SICK today"}}
	if resp, body := b.PostTwilio("/webhooks/twilio/sms", reply); resp.StatusCode != http.StatusOK {
		t.Fatalf("reply: %d %s", resp.StatusCode, body)
	}
	Eventually(t, 2*wait, "the escalation activity", func() bool { return len(escalationActivities(b)) == 1 })
	b.Settle(wait)
	if !strings.Contains(b.Log.String(), "escalation task of unknown outcome found; adopted") {
		t.Fatal("the create did not time out, or its task was not adopted")
	}
	tasks := escalationTasks(b)
	if len(tasks) != 1 || b.Twilio.Calls(twiliosim.OpCreateTask) != 1 {
		t.Fatalf("%d escalation tasks after %d creates, want 1 task from 1 create", len(tasks), b.Twilio.Calls(twiliosim.OpCreateTask))
	}
	if tasks[0].Attributes["reason"] != escalation.ReasonReply {
		t.Fatalf("reason %v, want reply", tasks[0].Attributes["reason"])
	}
	// The reply is still written back as a reply.
	var replyRow map[string]any
	for _, r := range b.SF.Records("Task") {
		if r["Twilio_Task_Sid__c"] == sid("SM", 71) {
			replyRow = r
		}
	}
	if replyRow == nil || replyRow["WhoId"] != id || replyRow["Description"] != "I feel SICK today" {
		t.Fatalf("reply activity: %v", replyRow)
	}
}

func TestEscalationSickReplyEscalates(t *testing.T) {
	t.Parallel()
	b, clk := escalationWorld(t, nil)
	id, _ := contactInMonitoring(t, b, clk, 3, "Luz", "(917) 555-0172", "Spanish")
	sfBefore, twBefore := b.SF.APICalls(), b.Twilio.TotalCalls()
	for i, body := range []string{"gracias", "estoy enfermo"} {
		reply := url.Values{"MessageSid": {sid("SM", 720+i)}, "From": {"+19175550172"}, "To": {"+12125550100"}, "Body": {body}}
		if resp, out := b.PostTwilio("/webhooks/twilio/sms", reply); resp.StatusCode != http.StatusOK {
			t.Fatalf("reply: %d %s", resp.StatusCode, out)
		}
	}
	Eventually(t, wait, "the escalation task", func() bool { return len(escalationTasks(b)) == 1 })
	Eventually(t, wait, "the escalation activity", func() bool { return len(escalationActivities(b)) == 1 })
	b.Settle(wait)
	task := escalationTasks(b)[0]
	if task.Attributes["reason"] != escalation.ReasonReply || task.Attributes["crm"].(map[string]any)["record_id"] != id || task.Priority != 100 {
		t.Fatalf("task: %v priority %d", task.Attributes, task.Priority)
	}
	if n := len(b.SF.Records("Task")); n != 3 {
		t.Fatalf("%d activities, want 2 replies and 1 escalation", n)
	}
	t.Logf("two replies, one escalating: %d Salesforce calls, %d Twilio calls", b.SF.APICalls()-sfBefore, b.Twilio.TotalCalls()-twBefore)
}

func TestEscalationTwoMissedDays(t *testing.T) {
	t.Parallel()
	b, clk := escalationWorld(t, nil)
	id, start := contactInMonitoring(t, b, clk, 4, "Eva", "(917) 555-0173", "English")
	d0 := mustDate(t, start)
	at := func(day int, hh, mm int) time.Time {
		d := d0.AddDate(0, 0, day)
		return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, newYork)
	}
	// Day 1 is missed at 22:00 (10:00 plus 12 h grace): one missed day.
	clk.Set(at(0, 22, 1))
	Eventually(t, wait, "day 1 found missed", func() bool { return strings.Contains(b.monitoringView(t), `"day":"`+start+`"`) })
	b.Settle(wait)
	if n := len(escalationTasks(b)); n != 0 {
		t.Fatalf("%d tasks after one missed day", n)
	}
	// Day 2 missed too: two in a row open one missed_days task.
	clk.Set(at(1, 22, 1))
	Eventually(t, wait, "the missed_days task", func() bool { return len(escalationTasks(b)) == 1 })
	Eventually(t, wait, "the escalation activity", func() bool { return len(escalationActivities(b)) == 1 })
	b.Settle(wait)
	task := escalationTasks(b)[0]
	if task.Attributes["reason"] != escalation.ReasonMissedDays || task.Attributes["crm"].(map[string]any)["record_id"] != id || task.Priority != 100 {
		t.Fatalf("task: %v priority %d", task.Attributes, task.Priority)
	}
	// Day 3 missed: the row started again after the escalation, so one
	// missed day only; day 4 answered resets it; nothing more opens.
	clk.Set(at(2, 22, 1))
	Eventually(t, wait, "day 3 found missed", func() bool {
		return strings.Contains(b.monitoringView(t), `"day":"`+d0.AddDate(0, 0, 2).Format("2006-01-02")+`"`)
	})
	clk.Set(at(3, 11, 0))
	day4 := d0.AddDate(0, 0, 3).Format("2006-01-02")
	if s := postSurvey(t, b, surveyLinks(b)[day4], url.Values{"Fever__c": {"no"}, "Cough__c": {"no"}}); s != http.StatusOK {
		t.Fatalf("day 4 survey: %d", s)
	}
	Eventually(t, wait, "day 4's survey row", func() bool { return len(b.SF.Records("Symptom_Survey__c")) == 1 })
	clk.Set(at(4, 22, 1)) // day 4's and day 5's checks: answered, then one missed
	Eventually(t, wait, "day 5 found missed", func() bool {
		return strings.Contains(b.monitoringView(t), `"day":"`+d0.AddDate(0, 0, 4).Format("2006-01-02")+`"`)
	})
	b.Settle(wait)
	if n := len(escalationTasks(b)); n != 1 {
		t.Fatalf("%d escalation tasks, want the one for days 1-2", n)
	}
}

// monitoringView reads /admin/api/monitoring.
func (b *Bridge) monitoringView(t *testing.T) string {
	t.Helper()
	resp, body := b.Do(http.MethodGet, "/admin/api/monitoring", nil, map[string]string{"Authorization": "Bearer " + b.AdminToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("monitoring view: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

func TestRetentionForgetsTheContact(t *testing.T) {
	t.Parallel()
	b, clk := escalationWorld(t, map[string]string{"BRIDGE_RETENTION": "48h"})
	const name, phone = "Ximena", "(917) 555-0174"
	id, start := contactInMonitoring(t, b, clk, 5, name, phone, "Spanish")
	link := surveyLinks(b)[start]
	clk.Set(clk.Now().Add(3 * time.Hour))

	// Everything that carries the contact: a survey, a sick reply, a reply
	// Salesforce refuses (a dead letter holding the number), then STOP.
	if s := postSurvey(t, b, link, url.Values{"Fever__c": {"yes"}, "Cough__c": {"no"}}); s != http.StatusOK {
		t.Fatalf("survey: %d", s)
	}
	send := func(n int, body string) {
		form := url.Values{"MessageSid": {sid("SM", 740+n)}, "From": {"+19175550174"}, "To": {"+12125550100"}, "Body": {body}}
		if resp, out := b.PostTwilio("/webhooks/twilio/sms", form); resp.StatusCode != http.StatusOK {
			t.Fatalf("sms: %d %s", resp.StatusCode, out)
		}
	}
	send(0, "estoy enfermo")
	Eventually(t, wait, "the escalation", func() bool { return len(escalationActivities(b)) == 1 })
	b.Settle(wait)
	b.SF.Fail(1, http.StatusBadRequest, "INVALID_FIELD")
	send(1, "hola")
	Eventually(t, wait, "the refused reply dead-lettered", func() bool { return b.QueueStats()["writeback"].Dead == 1 })
	send(2, "STOP")
	Eventually(t, wait, "opt-out in Salesforce", func() bool { return b.SF.Record("Contact", id)["SMS_Opt_Out__c"] == true })
	b.Settle(wait)

	needles := []string{name, "+19175550174", "9175550174", "555-0174", strings.TrimPrefix(link, "/survey/")}
	rdb := b.Redis.Client(t)
	if hits := keysHolding(t, rdb, needles); len(hits) == 0 {
		t.Fatal("before retention ends, no key holds the contact: the scan cannot fail")
	}
	sfBefore := snapshotSF(b)

	// Not yet: 47 h after the opt-out the copy is still there.
	clk.Set(clk.Now().Add(47 * time.Hour))
	time.Sleep(500 * time.Millisecond) // five sweeps at the e2e interval
	if hits := keysHolding(t, rdb, needles); len(hits) == 0 {
		t.Fatal("the contact was forgotten before BRIDGE_RETENTION passed")
	}
	clk.Set(clk.Now().Add(time.Hour + time.Minute))
	Eventually(t, wait, "nothing of the contact left in Redis", func() bool { return len(keysHolding(t, rdb, needles)) == 0 })
	if hits := keysHolding(t, rdb, needles); len(hits) != 0 {
		t.Fatalf("after retention, keys still hold the contact: %v", hits)
	}
	if after := snapshotSF(b); after != sfBefore {
		t.Fatalf("retention changed Salesforce:\nbefore %s\nafter  %s", sfBefore, after)
	}
}

// keysHolding scans the whole keyspace and returns the keys whose name or
// content (string, hash, set, zset, list, stream) holds a needle.
func keysHolding(t *testing.T, rdb *goredis.Client, needles []string) []string {
	t.Helper()
	ctx := context.Background()
	var hits []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var parts []string
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			parts = append(parts, rdb.Get(ctx, key).Val())
		case "hash":
			for k, v := range rdb.HGetAll(ctx, key).Val() {
				parts = append(parts, k, v)
			}
		case "set":
			parts = rdb.SMembers(ctx, key).Val()
		case "zset":
			parts = rdb.ZRange(ctx, key, 0, -1).Val()
		case "list":
			parts = rdb.LRange(ctx, key, 0, -1).Val()
		case "stream":
			for _, m := range rdb.XRange(ctx, key, "-", "+").Val() {
				for k, v := range m.Values {
					parts = append(parts, k, fmt.Sprint(v))
				}
			}
		case "none":
			continue
		default:
			t.Fatalf("key %s of unexpected type %s", key, typ)
		}
		all := key + "\x00" + strings.Join(parts, "\x00")
		for _, n := range needles {
			if strings.Contains(all, n) {
				hits = append(hits, key)
				break
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(hits)
	return hits
}

// snapshotSF is everything the Salesforce stand-in holds, as JSON.
func snapshotSF(b *Bridge) string {
	all := map[string]any{}
	for _, o := range []string{"Contact", "Task", "Symptom_Survey__c"} {
		all[o] = b.SF.Records(o)
	}
	raw, _ := json.Marshal(all)
	return string(raw)
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.ParseInLocation("2006-01-02", s, newYork)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The escalation queue, the due-check and retention schedules and the
// per-contact hashes on a real three-node Redis Cluster.
func TestEscalationAndRetentionOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a three-node Redis Cluster")
	}
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	b, clk := escalationWorld(t, map[string]string{"BRIDGE_REDIS_URL": cluster.URL(), "BRIDGE_RETENTION": "1h"})
	id, start := contactInMonitoring(t, b, clk, 6, "Yara", "(917) 555-0175", "English")
	send := func(n int, body string) {
		form := url.Values{"MessageSid": {sid("SM", 760+n)}, "From": {"+19175550175"}, "To": {"+12125550100"}, "Body": {body}}
		if resp, out := b.PostTwilio("/webhooks/twilio/sms", form); resp.StatusCode != http.StatusOK {
			t.Fatalf("sms: %d %s", resp.StatusCode, out)
		}
	}
	send(0, "I have a fever")
	Eventually(t, wait, "the reply escalation", func() bool { return len(escalationActivities(b)) == 1 })
	d0 := mustDate(t, start)
	clk.Set(time.Date(d0.Year(), d0.Month(), d0.Day(), 22, 1, 0, 0, newYork))
	Eventually(t, wait, "day 1 found missed", func() bool { return strings.Contains(b.monitoringView(t), `"day":"`+start+`"`) })
	send(1, "STOP")
	Eventually(t, wait, "opt-out", func() bool { return b.SF.Record("Contact", id)["SMS_Opt_Out__c"] == true })
	b.Settle(wait)
	needles := []string{"Yara", "+19175550175", "555-0175"}
	var nodes []*goredis.Client
	for _, s := range cluster.Servers {
		nodes = append(nodes, s.Client(t))
	}
	held := func() int {
		n := 0
		for _, c := range nodes {
			n += len(keysHolding(t, c, needles))
		}
		return n
	}
	if held() == 0 {
		t.Fatal("before retention ends, no node holds the contact: the scan cannot fail")
	}
	clk.Set(clk.Now().Add(time.Hour + time.Minute))
	Eventually(t, wait, "nothing of the contact left on any node", func() bool { return held() == 0 })
	if n := len(escalationTasks(b)); n != 1 {
		t.Fatalf("%d escalation tasks, want 1", n)
	}
}
