package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/backfill"
	"github.com/cityhealth/bridge/server"
)

// cancelAfterPages cancels a run from its progress callback, as Ctrl-C would.
type cancelAfterPages struct {
	pages  int
	cancel context.CancelFunc
	lines  bytes.Buffer
}

func (r *cancelAfterPages) Start(p backfill.Progress)  {}
func (r *cancelAfterPages) Record(p backfill.Progress) {}
func (r *cancelAfterPages) Page(p backfill.Progress) {
	fmt.Fprintln(&r.lines, "backfill: "+backfill.Status(p))
	if r.pages > 0 && p.Pages == r.pages {
		r.cancel()
	}
}

// backfillConfig is what `bridge backfill` assembles, on b's world, with
// logger; the caller sets the condition and the run's options.
func (b *Bridge) backfillConfig(t *testing.T, logger *slog.Logger) backfill.Config {
	t.Helper()
	cfg, release, err := server.Backfill(context.Background(), b.Config, server.Options{Logger: logger, Tuning: *b.opts.Tuning})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return cfg
}

// The day-one load: 10,000 contacts in pages of 2,000 enqueued for the
// bridge's own record sync, interrupted and resumed, then rerun and restarted.
func TestBackfillTenThousandContacts(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 records")
	}
	t.Parallel()
	b := MustStart(t, Options{})
	b.SF.SetPageSize(2000)
	const total, failing = 10000, 10
	needs := 0
	for i := range total {
		status := []string{"Needs Outreach", "Needs Outreach", "Needs Outreach", "Closed", "Reached"}[i%5]
		rec := map[string]any{
			"FirstName": fmt.Sprintf("Backfill%05d", i), "LastName": "Resident", "Outreach_Status__c": status,
			"MobilePhone": fmt.Sprintf("(646) 555-%04d", i), "Preferred_Language__c": "Spanish",
			"Case_Number__c": fmt.Sprintf("NYC-2026-%06d", i), "Priority__c": float64(i % 3), "Index_Case_Name__c": "Planted Index",
		}
		if i%5 == 0 && i < failing*5 {
			delete(rec, "MobilePhone") // a required rule fails: counted, logged by id, not fatal
		} else if status == "Needs Outreach" {
			needs++
		}
		b.SF.AddRecord("Contact", rec)
	}
	b.Log.Plant("Backfill00042", "Planted Index", "NYC-2026-000042")

	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(b.Log, testWriter{t}), nil))
	base := b.backfillConfig(t, logger)
	base.Monitoring = nil // these contacts are under no monitoring
	const where = "Outreach_Status__c != null"
	newRun := func(rep backfill.Reporter, restart bool) *backfill.Backfill {
		cfg := base
		cfg.Where, cfg.Restart, cfg.Reporter = where, restart, rep
		r, err := backfill.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Stopped after two pages.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &cancelAfterPages{pages: 2, cancel: cancel}
	first, err := newRun(stop, false).Run(ctx)
	if !errors.Is(err, backfill.ErrInterrupted) || first.Done != 4000 || first.Total != total {
		t.Fatalf("interrupted run: %v %+v", err, first)
	}
	b.Settle(time.Minute)
	tasksAfterFirst := len(b.Twilio.Tasks())

	// Resumed: the other 6,000; nothing is created twice.
	rest := &cancelAfterPages{}
	sum, err := newRun(rest, false).Run(context.Background())
	t.Logf("backfill pages:\n%s%s", stop.lines.String(), rest.lines.String())
	if err != nil || !sum.Complete || sum.Done != total || sum.RunDone != total-4000 {
		t.Fatalf("resumed run: %v %+v", err, sum)
	}
	c := sum.Counts
	if c.Enqueued != total || c.Duplicate != 0 || c.Sum() != total {
		t.Fatalf("counts %+v, want %d enqueued", c, total)
	}
	b.Settle(time.Minute)
	tasks := b.Twilio.Tasks()
	if len(tasks) != needs || tasksAfterFirst >= needs {
		t.Fatalf("%d tasks (%d after the first run), want one per Needs Outreach record with a number: %d", len(tasks), tasksAfterFirst, needs)
	}
	perRecord := map[string]int{}
	for _, task := range tasks {
		crm, _ := task.Attributes["crm"].(map[string]any)
		id, _ := crm["record_id"].(string)
		perRecord[id]++
		if perRecord[id] > 1 {
			t.Fatalf("record %s has two tasks", id)
		}
	}
	if strings.Contains(fmt.Sprint(tasks[0].Attributes), "Planted") {
		t.Fatal("a protected field reached Twilio")
	}
	// The records the mapping refuses are record sync's dead letters, not fatal.
	if st := b.QueueStats()[event.QueueRecords]; st.Dead != failing {
		t.Fatalf("%d dead letters, want %d", st.Dead, failing)
	}
	t.Logf("10,000 records: first run %d in %s, resumed run %d in %s (%.0f rec/s), %s in all",
		first.RunDone, first.RunElapsed, sum.RunDone, sum.RunElapsed, sum.Rate(), sum.Elapsed)

	b.Twilio.ResetCalls()

	// The same command again: already complete.
	again, err := newRun(nil, false).Run(context.Background())
	if !errors.Is(err, backfill.ErrAlreadyComplete) || again.Done != total || again.Counts != c {
		t.Fatalf("rerun: %v %+v", err, again)
	}

	// --restart: every record again, all in step, no Twilio call at all.
	re, err := newRun(nil, true).Run(context.Background())
	if err != nil || re.Done != total || re.Counts.Enqueued != total {
		t.Fatalf("restart: %v %+v", err, re)
	}
	t.Logf("restart: 10,000 records enqueued in %s (%.0f rec/s)", re.RunElapsed, re.Rate())
	b.Settle(time.Minute)
	if n := b.Twilio.TotalCalls(); n != 0 || len(b.Twilio.Tasks()) != needs {
		t.Fatalf("restart made %d Twilio calls (%d tasks), want 0", n, len(b.Twilio.Tasks()))
	}
	if st := b.QueueStats()[event.QueueRecords]; st.Dead < failing {
		t.Fatalf("%d dead letters after the restart", st.Dead)
	}

	// Live sync shares the links: an Outbound Message for a backfilled
	// record that did not change makes no Twilio call either.
	row := b.SF.Records("Contact")[100]
	fields := map[string]*string{}
	for k, v := range row {
		switch v := v.(type) {
		case string:
			fields[k] = S(v)
		case float64:
			fields[k] = N(v) // as an Outbound Message carries a number: "2.0"
		}
	}
	lm, _ := time.Parse("2006-01-02T15:04:05.000-0700", *fields["LastModifiedDate"])
	fields["LastModifiedDate"] = S(lm.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(77), Fields: fields}))
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("an unchanged record's Outbound Message after the backfill made %d Twilio calls", n)
	}

	// The command itself, as an operator runs it, on the same world.
	env := b.env()
	out, errOut, code := runBackfillCommand(t, env, "--where", where)
	if code != 0 || !strings.Contains(out, "already complete: 10000 records") {
		t.Fatalf("bridge backfill rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runBackfillCommand(t, env, "--where", "Outreach_Status__c = 'Needs Outreach' OR")
	if code != 2 || !strings.Contains(errOut, "MALFORMED_QUERY") || out != "" {
		t.Fatalf("malformed condition: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("%d Twilio calls after the restart", n)
	}
}

// runBackfillCommand runs the built `bridge backfill` with env.
func runBackfillCommand(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(BridgeBinary(t), append([]string{"backfill"}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	for _, v := range []string{"Backfill0", "555-", "Planted"} {
		if strings.Contains(out.String()+errOut.String(), v) {
			t.Fatalf("bridge backfill printed a record value %q", v)
		}
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// Contacts already under monitoring on day one get their reminders from the
// backfill, once.
func TestBackfillStartsRemindersOnce(t *testing.T) {
	b := MustStart(t, Options{Env: AllDaysAtTwilio})
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	start := time.Now().In(ny).AddDate(0, 0, 1).Format("2006-01-02")
	for i := range 3 {
		b.SF.AddRecord("Contact", map[string]any{
			"FirstName": "Mon", "LastName": "Itored", "Outreach_Status__c": "Closed",
			"MobilePhone": fmt.Sprintf("(646) 555-01%02d", i), "Monitoring_Status__c": "Active", "Monitoring_Start__c": start,
		})
	}
	base := b.backfillConfig(t, nil)
	run := func(restart bool) backfill.Summary {
		cfg := base
		cfg.Where, cfg.Restart = "Monitoring_Status__c = 'Active'", restart
		r, err := backfill.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b.Settle(wait)
		return sum
	}
	run(false)
	if n := len(b.Twilio.Scheduled()); n != 3*14 {
		t.Fatalf("%d reminders scheduled, want %d", n, 3*14)
	}
	b.Twilio.ResetCalls()
	run(true)
	if n := b.Twilio.TotalCalls(); n != 0 || len(b.Twilio.Scheduled()) != 3*14 {
		t.Fatalf("a second backfill made %d Twilio calls (%d scheduled)", n, len(b.Twilio.Scheduled()))
	}
}

// A record read through REST (the backfill: Priority__c is 2) and then in an
// Outbound Message (Priority__c is "2.0", null fields left out) maps the
// same, so the Outbound Message makes no Twilio call.
func TestRecordReadBothWaysMapsTheSame(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(Testdata(t, "mapping.yaml"), "    case_number: {field: Case_Number__c}\n",
		"    case_number: {field: Case_Number__c}\n    case.level: {field: Priority__c, map: {\"1\": low, \"2\": high}}\n    case.priority: {field: Priority__c}\n", 1)
	b := MustStart(t, Options{Mapping: doc})
	b.Log.Plant("Robin", "(646) 555-0142")
	id := b.SF.AddRecord("Contact", map[string]any{"FirstName": "Robin", "LastName": "Resident", "Outreach_Status__c": "Needs Outreach",
		"MobilePhone": "(646) 555-0142", "Preferred_Language__c": "English", "Priority__c": float64(2), "Case_Number__c": nil})
	cfg := b.backfillConfig(t, nil)
	cfg.Where, cfg.Restart = "Outreach_Status__c != null", true
	run, err := backfill.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := run.Run(context.Background()); err != nil || sum.Counts.Enqueued != 1 {
		t.Fatalf("backfill: %v %+v", err, sum)
	}
	b.Settle(wait)
	tasks := b.Twilio.Tasks()
	if len(tasks) != 1 {
		t.Fatalf("%d tasks", len(tasks))
	}
	if c, _ := tasks[0].Attributes["case"].(map[string]any); c["level"] != "high" || c["priority"] != "2" {
		t.Fatalf("REST-read attributes %v", tasks[0].Attributes)
	}

	row := b.SF.Record("Contact", id)
	lm, _ := time.Parse("2006-01-02T15:04:05.000-0700", row["LastModifiedDate"].(string))
	b.Twilio.ResetCalls()
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(78), Fields: map[string]*string{
		"Id": S(id), "FirstName": S("Robin"), "Outreach_Status__c": S("Needs Outreach"), "MobilePhone": S("(646) 555-0142"),
		"Preferred_Language__c": S("English"), "Priority__c": N(2), "LastModifiedDate": S(lm.UTC().Format("2006-01-02T15:04:05.000Z")),
	}}))
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 {
		task, _ := b.Twilio.Task(tasks[0].SID)
		t.Fatalf("the same record as an Outbound Message made %d Twilio calls (attributes now %v)", n, task.Attributes)
	}
}

// onPage calls fn after each checkpointed page.
type onPage func(p backfill.Progress)

func (onPage) Start(backfill.Progress)    {}
func (onPage) Record(backfill.Progress)   {}
func (f onPage) Page(p backfill.Progress) { f(p) }

// Salesforce failing mid-run stops the run at its last checkpoint with
// Salesforce's error; the same command then enqueues the rest, and every
// record gets its one task.
func TestBackfillSalesforceOutageLosesNothing(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.SF.SetPageSize(20)
	for i := range 60 {
		b.SF.AddRecord("Contact", map[string]any{
			"FirstName": fmt.Sprintf("Outage%02d", i), "LastName": "Resident", "Outreach_Status__c": "Needs Outreach",
			"MobilePhone": fmt.Sprintf("(646) 555-02%02d", i), "Preferred_Language__c": "English",
		})
	}
	b.Log.Plant("Outage07")
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(b.Log, testWriter{t}), nil))
	cfg := b.backfillConfig(t, logger)
	cfg.Where, cfg.PageSize = "Outreach_Status__c = 'Needs Outreach'", 20
	cfg.Reporter = onPage(func(p backfill.Progress) {
		if p.Pages == 1 {
			b.SF.SetOutage(true)
		}
	})
	run, err := backfill.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := run.Run(context.Background())
	if err == nil || errors.Is(err, backfill.ErrInterrupted) || !strings.Contains(err.Error(), "503") || sum.Done != 20 || sum.Complete {
		t.Fatalf("run during the outage: %v %+v", err, sum)
	}
	b.SF.SetOutage(false)

	cfg.Reporter = nil
	run, err = backfill.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err = run.Run(context.Background())
	if err != nil || !sum.Complete || !sum.Resumed || sum.Done != 60 || sum.RunDone != 40 || sum.Counts.Enqueued != 60 || sum.Counts.Duplicate != 0 {
		t.Fatalf("resumed run: %v %+v", err, sum)
	}
	b.Settle(wait)
	perRecord := map[string]int{}
	for _, task := range b.Twilio.Tasks() {
		crm, _ := task.Attributes["crm"].(map[string]any)
		id, _ := crm["record_id"].(string)
		perRecord[id]++
	}
	if len(perRecord) != 60 {
		t.Fatalf("%d records with a task, want 60", len(perRecord))
	}
	for id, n := range perRecord {
		if n != 1 {
			t.Fatalf("record %s has %d tasks", id, n)
		}
	}
}

// A dry run enqueues nothing, writes no checkpoint and calls no Twilio API.
func TestBackfillDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	for i := range 10 {
		status := []string{"Needs Outreach", "Closed"}[i%2]
		b.SF.AddRecord("Contact", map[string]any{
			"FirstName": fmt.Sprintf("Dry%02d", i), "LastName": "Resident", "Outreach_Status__c": status,
			"MobilePhone": fmt.Sprintf("(646) 555-03%02d", i), "Preferred_Language__c": "English",
		})
	}
	b.Log.Plant("Dry03")
	cfg := b.backfillConfig(t, nil)
	cfg.Where, cfg.DryRun = "Outreach_Status__c != null", true
	before, calls := b.RedisState(), b.Twilio.TotalCalls()
	run, err := backfill.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := run.Run(context.Background())
	if err != nil || sum.Counts.Open != 5 || sum.Counts.Cancel != 5 || sum.Counts.Enqueued != 0 {
		t.Fatalf("dry run: %v %+v", err, sum)
	}
	b.MustBeUnchanged(t, before)
	if n := b.Twilio.TotalCalls(); n != calls {
		t.Fatalf("a dry run made %d Twilio calls", n-calls)
	}
}
