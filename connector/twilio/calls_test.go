package twilio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// ivr is a two-question keypad survey, asked again once on no input.
type ivr struct {
	mu       sync.Mutex
	answers  []string
	statuses []string
	srv      *httptest.Server
}

func newIVR(t *testing.T) *ivr {
	v := &ivr{}
	mux := http.NewServeMux()
	ask := func(w http.ResponseWriter, q, try int) {
		w.Header().Set("Content-Type", "text/xml")
		if q == 2 {
			fmt.Fprint(w, `<Response><Say>Thank you.</Say><Hangup/></Response>`)
			return
		}
		next := fmt.Sprintf(`<Redirect>/ask?q=%d&amp;try=1</Redirect>`, q)
		if try > 0 {
			next = `<Say>Goodbye.</Say><Hangup/>`
		}
		fmt.Fprintf(w, `<Response><Gather input="dtmf" numDigits="1" action="/answer?q=%d"><Say>Question %d: press 1 for yes, 2 for no.</Say></Gather>%s</Response>`, q, q, next)
	}
	mux.HandleFunc("POST /ask", func(w http.ResponseWriter, r *http.Request) {
		var q, try int
		fmt.Sscan(r.URL.Query().Get("q"), &q)
		fmt.Sscan(r.URL.Query().Get("try"), &try)
		ask(w, q, try)
	})
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		var q int
		fmt.Sscan(r.URL.Query().Get("q"), &q)
		v.mu.Lock()
		v.answers = append(v.answers, r.PostFormValue("Digits"))
		v.mu.Unlock()
		ask(w, q+1, 0)
	})
	mux.HandleFunc("POST /status", func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.statuses = append(v.statuses, r.PostFormValue("CallStatus"))
		v.mu.Unlock()
	})
	v.srv = httptest.NewServer(mux)
	t.Cleanup(v.srv.Close)
	return v
}

func TestCreateCallPlaysTheScriptedKeypad(t *testing.T) {
	e := mustEnv(t, nil)
	v := newIVR(t)
	e.sim.ScriptCall(phone, twiliosim.CallScript{Keys: []string{"", "1", "2"}})
	sid, err := e.c.CreateCall(context.Background(), twilio.CallRequest{To: phone, From: "+12125550000", URL: v.srv.URL + "/ask?q=0", StatusCallback: v.srv.URL + "/status"})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.WaitCalls()
	calls := e.sim.CallsMade()
	if len(calls) != 1 || calls[0].SID != sid || calls[0].Status != "completed" || calls[0].Err != "" {
		t.Fatalf("calls = %+v", calls)
	}
	if want := []string{"", "1", "2"}; !reflect.DeepEqual(calls[0].Pressed, want) {
		t.Errorf("pressed %q", calls[0].Pressed)
	}
	if calls[0].Said[len(calls[0].Said)-1] != "Thank you." {
		t.Errorf("said %q", calls[0].Said)
	}
	if !reflect.DeepEqual(v.answers, []string{"1", "2"}) || !reflect.DeepEqual(v.statuses, []string{"completed"}) {
		t.Errorf("answers %q, statuses %q", v.answers, v.statuses)
	}
}

func TestCallNotAnsweredFetchesNoTwiML(t *testing.T) {
	e := mustEnv(t, nil)
	v := newIVR(t)
	e.sim.ScriptCall(phone, twiliosim.CallScript{NoAnswer: true})
	if _, err := e.c.CreateCall(context.Background(), twilio.CallRequest{To: phone, From: "+12125550000", URL: v.srv.URL + "/ask?q=0", StatusCallback: v.srv.URL + "/status"}); err != nil {
		t.Fatal(err)
	}
	e.sim.WaitCalls()
	if c := e.sim.CallsMade()[0]; c.Status != "no-answer" || len(c.Said) != 0 || len(v.answers) != 0 || !reflect.DeepEqual(v.statuses, []string{"no-answer"}) {
		t.Fatalf("call %+v, statuses %q", c, v.statuses)
	}
}

func TestCreateCallErrors(t *testing.T) {
	e := mustEnv(t, nil)
	for _, r := range []twilio.CallRequest{{From: "+12125550000", URL: "http://x/"}, {To: phone, URL: "http://x/"}, {To: phone, From: "+12125550000"}} {
		if _, err := e.c.CreateCall(context.Background(), r); !twilio.HasCode(err, 21201) && !twilio.HasCode(err, 21213) && !twilio.HasCode(err, 21205) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if len(e.sim.CallsMade()) != 0 {
		t.Fatal("a refused create placed a call")
	}
}

func TestSendContent(t *testing.T) {
	e := mustEnv(t, nil)
	sid, err := e.c.SendContent(context.Background(), "whatsapp:"+phone, "HX00000000000000000000000000000001", map[string]string{"1": "Ana", "2": "https://x/survey/t"})
	if err != nil {
		t.Fatal(err)
	}
	m := e.sim.Messages()[0]
	var vars map[string]string
	_ = json.Unmarshal([]byte(m.ContentVariables), &vars)
	if m.SID != sid || m.To != "whatsapp:"+phone || m.ContentSid != "HX00000000000000000000000000000001" || vars["1"] != "Ana" || m.Status == "failed" {
		t.Fatalf("message %+v", m)
	}
	if _, err := e.c.SendContent(context.Background(), "whatsapp:"+phone, "HXnope", nil); !twilio.HasCode(err, 21656) {
		t.Fatalf("bad content sid: %v", err)
	}
	// free text to WhatsApp is created, then fails outside the 24-hour window
	if _, err := e.c.SendMessage(context.Background(), "whatsapp:"+phone, "hello"); err != nil {
		t.Fatal(err)
	}
	if m := e.sim.Messages()[len(e.sim.Messages())-1]; m.Status != "failed" || m.ErrorCode != 63016 {
		t.Fatalf("free text: %+v", m)
	}
}
