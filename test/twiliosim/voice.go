package twiliosim

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpCreateCall is the Calls API create, for Calls, FailNext and SetLatency.
const OpCreateCall = "create_call"

// Call is the sim's record of an outbound call and what happened on it.
type Call struct {
	SID, To, From, URL, StatusCallback string
	Status                             string // queued, in-progress, completed, no-answer, busy, failed
	DateCreated                        time.Time
	// Said is every <Say> the callee heard, in order; Pressed the digits
	// the script pressed (one entry per <Gather>, "" for no input).
	Said    []string
	Pressed []string
	// Err is why the sim ended the call early (bad TwiML, a webhook that
	// answered non-2xx: Twilio then plays its application-error message).
	Err string
}

// CallScript is how the callee behaves, set per number with ScriptCall.
type CallScript struct {
	NoAnswer bool     // ring out: status no-answer, no TwiML fetched
	Keys     []string // one entry per <Gather>: a digit, or "" for silence
}

type voiceState struct {
	mu      sync.Mutex
	calls   map[string]*Call
	order   []string
	scripts map[string]CallScript
	wg      sync.WaitGroup
}

func (s *Server) voiceState() *voiceState {
	s.voiceOnce.Do(func() {
		s.voice = &voiceState{calls: map[string]*Call{}, scripts: map[string]CallScript{}}
	})
	return s.voice
}

// ScriptCall sets how the callee at number behaves on the next calls.
func (s *Server) ScriptCall(number string, script CallScript) {
	v := s.voiceState()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.scripts[number] = script
}

// CallsMade lists the calls created, oldest first.
func (s *Server) CallsMade() []Call {
	v := s.voiceState()
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Call, 0, len(v.order))
	for _, sid := range v.order {
		c := *v.calls[sid]
		c.Said = append([]string(nil), c.Said...)
		c.Pressed = append([]string(nil), c.Pressed...)
		out = append(out, c)
	}
	return out
}

// WaitCalls blocks until every call in progress has ended.
func (s *Server) WaitCalls() { s.voiceState().wg.Wait() }

// createCall is POST /2010-04-01/Accounts/{ac}/Calls.json. Per Twilio's
// Call resource (api_v2010 in twilio-oai, "Create a Call"): To, From and
// one of Url, Twiml or ApplicationSid are required (21201, 21213, 21205);
// the answer is 201 with the call queued, and the call proceeds on its own:
// Twilio fetches Url when the callee answers, posts StatusCallback when it
// ends, and never retries a TwiML fetch that answered non-2xx (the caller
// hears "an application error has occurred").
func (s *Server) createCall(w http.ResponseWriter, r *http.Request) {
	if !s.checkAccount(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, 20001, "Invalid form body")
		return
	}
	if !s.begin(w, r, OpCreateCall) {
		return
	}
	f := r.PostForm
	c := &Call{SID: newSID("CA"), To: f.Get("To"), From: f.Get("From"), URL: f.Get("Url"),
		StatusCallback: f.Get("StatusCallback"), Status: "queued", DateCreated: s.now()}
	switch {
	case c.To == "":
		writeError(w, 400, 21201, "No 'To' number is specified")
		return
	case c.From == "":
		writeError(w, 400, 21213, "No 'From' number is specified")
		return
	case c.URL == "" && f.Get("Twiml") == "" && f.Get("ApplicationSid") == "":
		writeError(w, 400, 21205, "Url parameter is required.")
		return
	}
	if m := f.Get("Method"); m != "" && m != http.MethodPost {
		writeError(w, 400, 21207, "The sim only fetches TwiML by POST, as the bridge asks")
		return
	}
	v := s.voiceState()
	v.mu.Lock()
	v.calls[c.SID] = c
	v.order = append(v.order, c.SID)
	script := v.scripts[c.To]
	v.mu.Unlock()
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		s.runCall(c.SID, script)
	}()
	s.finish(r, OpCreateCall)
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": c.SID, "account_sid": s.AccountSID, "to": c.To, "from": c.From, "status": "queued",
		"direction": "outbound-api", "api_version": "2010-04-01", "date_created": c.DateCreated.Format(time.RFC1123Z),
		"uri": fmt.Sprintf("/2010-04-01/Accounts/%s/Calls/%s.json", s.AccountSID, c.SID),
	})
}

// twiml is the subset of TwiML verbs the sim plays: Say, Gather (with
// nested Say), Redirect, Pause and Hangup.
type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []verb   `xml:",any"`
}

type verb struct {
	XMLName   xml.Name
	Text      string `xml:",chardata"`
	Action    string `xml:"action,attr"`
	Input     string `xml:"input,attr"`
	NumDigits string `xml:"numDigits,attr"`
	Nested    []verb `xml:",any"`
}

// maxDocuments bounds a call, so a TwiML loop cannot run forever.
const maxDocuments = 50

func (s *Server) runCall(sid string, script CallScript) {
	v := s.voiceState()
	update := func(fn func(c *Call)) Call {
		v.mu.Lock()
		defer v.mu.Unlock()
		fn(v.calls[sid])
		return *v.calls[sid]
	}
	c := update(func(*Call) {})
	if script.NoAnswer {
		c = update(func(c *Call) { c.Status = "no-answer" })
		s.callStatus(c, 0)
		return
	}
	c = update(func(c *Call) { c.Status = "in-progress" })
	started := s.now()
	next, params := c.URL, s.callForm(c)
	keys := script.Keys
	for docs := 0; next != "" && docs < maxDocuments; docs++ {
		cur := next
		doc, err := s.fetchTwiML(cur, params)
		if err != nil {
			update(func(c *Call) { c.Err = err.Error() })
			break
		}
		next = ""
		for _, vb := range doc.Verbs {
			switch vb.XMLName.Local {
			case "Say":
				update(func(c *Call) { c.Said = append(c.Said, strings.TrimSpace(vb.Text)) })
			case "Gather":
				for _, n := range vb.Nested {
					if n.XMLName.Local == "Say" {
						update(func(c *Call) { c.Said = append(c.Said, strings.TrimSpace(n.Text)) })
					}
				}
				key := ""
				if len(keys) > 0 {
					key, keys = keys[0], keys[1:]
				}
				update(func(c *Call) { c.Pressed = append(c.Pressed, key) })
				if key == "" {
					// TwiML <Gather>: with no input and actionOnEmptyResult
					// unset, Twilio skips the action and runs the next verb.
					continue
				}
				if nd, _ := strconv.Atoi(vb.NumDigits); nd > 0 && len(key) > nd {
					key = key[:nd]
				}
				params = s.callForm(update(func(*Call) {}))
				params.Set("Digits", key)
				next = resolve(cur, vb.Action) // no action: the current document's URL
			case "Redirect":
				params = s.callForm(update(func(*Call) {}))
				next = resolve(cur, strings.TrimSpace(vb.Text))
			case "Hangup":
				next = ""
			case "Pause":
			default:
				update(func(c *Call) { c.Err = "unsupported verb " + vb.XMLName.Local })
			}
			if next != "" || vb.XMLName.Local == "Hangup" {
				break
			}
		}
	}
	c = update(func(c *Call) { c.Status = "completed" })
	s.callStatus(c, int(s.now().Sub(started).Seconds()))
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

// callForm is what Twilio posts to a voice webhook (the "Twilio's request
// to your application" parameters of the TwiML voice docs).
func (s *Server) callForm(c Call) url.Values {
	f := url.Values{}
	f.Set("AccountSid", s.AccountSID)
	f.Set("ApiVersion", "2010-04-01")
	f.Set("CallSid", c.SID)
	f.Set("CallStatus", c.Status)
	f.Set("Direction", "outbound-api")
	f.Set("From", c.From)
	f.Set("To", c.To)
	return f
}

func (s *Server) fetchTwiML(u string, params url.Values) (*twiml, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second) // Twilio waits 15 s for TwiML
	defer cancel()
	resp, err := s.post(ctx, s.opts.HTTPClient, u, params, "")
	if err != nil {
		return nil, fmt.Errorf("fetch TwiML: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)) // Twilio's TwiML size limit is 64 KB
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("fetch TwiML: webhook answered %d", resp.StatusCode)
	}
	var doc twiml
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse TwiML: %w", err) // Twilio error 12100
	}
	return &doc, nil
}

func (s *Server) callStatus(c Call, duration int) {
	if c.StatusCallback == "" {
		return
	}
	f := s.callForm(c)
	f.Set("CallDuration", strconv.Itoa(duration))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if resp, err := s.post(ctx, s.opts.HTTPClient, c.StatusCallback, f, ""); err == nil {
		resp.Body.Close()
	}
}
