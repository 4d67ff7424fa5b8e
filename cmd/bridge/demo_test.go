package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/test/democonsole"
)

// syncBuffer is written by the demo and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The five-minute tour of the README, played through the console's API
// against the real bridge the demo runs (embedded Redis, both stand-ins).
func TestDemoTourThroughTheConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole demo")
	}
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- demo(ctx, []string{"--addr", "127.0.0.1:0"}, config.MapSource(map[string]string{}), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("demo did not stop")
		}
	}()
	base := ""
	waitFor(t, "the demo's banner", func() bool {
		m := regexp.MustCompile(`export BRIDGE=(\S+)`).FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return base != ""
	})
	out := stdout.String()
	for _, want := range []string{"export ADMIN=", "export AGENT=", "export BRIDGE_TWILIO_AUTH_TOKEN=", base + "/demo/",
		"twilio sign --post --url $BRIDGE/webhooks/twilio/sms", "twilio sign --post --url $BRIDGE/webhooks/twilio/taskrouter", "export BRIDGE_JWT_SECRET="} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q", want)
		}
	}
	state := func() democonsole.State {
		var st democonsole.State
		resp, err := http.Get(base + "/demo/api/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	act := func(path, body string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	contact := func(st democonsole.State, first string) democonsole.Row {
		for _, c := range st.Salesforce.Contacts {
			if c.Fields["FirstName"] == first {
				return c
			}
		}
		t.Fatalf("no contact %s", first)
		return democonsole.Row{}
	}

	// 1. Luis had no number: give him one; the save's Outbound Message opens his task.
	luis := contact(state(), "Luis")
	act("/demo/api/contacts/"+luis.ID, `{"fields":{"MobilePhone":"(646) 555-0177"}}`)
	waitFor(t, "Luis's task", func() bool { return len(contact(state(), "Luis").Tasks) == 1 })

	// 2. Complete Sam's task with a follow-up: an activity and an open Task in Salesforce.
	sam := contact(state(), "Sam")
	if len(sam.Tasks) != 1 {
		t.Fatalf("Sam's tasks: %v", sam.Tasks)
	}
	act("/demo/api/tasks/"+sam.Tasks[0]+"/complete", `{"outcome":"No answer","follow_up_date":"2026-12-09"}`)
	waitFor(t, "Sam's outcome and follow-up in Salesforce", func() bool {
		st := state()
		found := 0
		for _, r := range append(st.Salesforce.Activities, st.Salesforce.FollowUps...) {
			if r.Fields["WhoId"] == sam.ID && strings.HasPrefix(r.Fields["Twilio_Task_Sid__c"].(string), sam.Tasks[0]) {
				found++
			}
		}
		return found == 2
	})

	// 3. Sam texts STOP: the bridge sets his opt-out field.
	act("/demo/api/sms", `{"from":"(718) 555-0188","body":"STOP"}`)
	waitFor(t, "Sam opted out", func() bool { return contact(state(), "Sam").Fields["SMS_Opt_Out__c"] == true })

	// 4. Alex fills the survey from his reminder's link: a Symptom_Survey__c row.
	var link string
	for _, m := range state().Twilio.Messages {
		if m.RecordID == contact(state(), "Alex").ID && m.SurveyURL != "" {
			link = m.SurveyURL
			break
		}
	}
	if link == "" {
		t.Fatal("no survey link in Alex's messages")
	}
	resp, err := http.PostForm(link, url.Values{"Fever__c": {"no"}, "Cough__c": {"no"}, "Other_Symptoms__c": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("survey post: %d", resp.StatusCode)
	}
	waitFor(t, "the survey row", func() bool { return len(state().Salesforce.Surveys) == 1 })

	if st := state(); len(st.Actions) != 3 {
		t.Errorf("the action log holds %d actions, want 3", len(st.Actions))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
