// Package selfreport asks a case for their close contacts: when a case
// record enters case_contacts.when (an Outbound Message, through the
// "selfreport" queue) or a tracer asks from Flex, it texts the case a
// single-use link to the self-report page. The page (package survey) and
// the writeback flow do the rest.
//
// At most one link is out per case: a link is claimed in Redis (SET NX on
// the case) before Twilio is asked, and the claim is released only when
// Twilio surely sent nothing, or when the link has been used. A send whose
// outcome is unknown keeps the claim: a missed text is better than two.
package selfreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"log/slog"
	"strings"
	"time"
)

// Messages sends an SMS now through the Messaging Service.
type Messages interface {
	SendMessage(ctx context.Context, to, body string) (string, error)
}

// CRM reads a case record (for a tracer's request).
type CRM interface {
	Get(ctx context.Context, object, id string, fields []string) (salesforce.Record, error)
}

// Store keeps the link state.
type Store interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	Del(ctx context.Context, keys ...string) error
}

// Links mints self-report links (*survey.ReportLinks).
type Links interface {
	Mint(caseID, lang string) (token, linkID string, err error)
	URL(token string) string
	// Language is the page language a record's language value selects.
	Language(tag string) string
	// ValidFor is how long a minted link is good for: the link state lives
	// as long, no longer.
	ValidFor() time.Duration
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// Config wires the flow.
type Config struct {
	Messages Messages
	CRM      CRM
	Store    Store
	Links    Links
	Mappings Mappings
	Logger   *slog.Logger
	// ActiveTTL bounds how long the flow remembers that a case is in the
	// `when` state (so a re-notification is not "entering"); default 30 days.
	ActiveTTL time.Duration
}

// Flow is the self-report request flow.
type Flow struct {
	cfg Config
	log *slog.Logger
}

// Errors a tracer's request can end in; their kind gives the status.
var (
	ErrNotMapped   = fault.New(fault.Unavailable, "the mapping has no case_contacts section")
	ErrInvalidID   = fault.New(fault.Invalid, "record id is not a Salesforce id")
	ErrNotFound    = fault.New(fault.NotFound, "record not found")
	ErrUnavailable = fault.New(fault.Unavailable, "Salesforce or Twilio is unavailable; try again")
	// ErrUncertain: Twilio may or may not have sent the text; the link stays
	// claimed so no second one goes out.
	ErrUncertain = fault.New(fault.Unavailable, "the text may not have been sent; it will not be sent twice")
)

// NotReachableError: the case has no number the link can go to.
type NotReachableError struct{ Rule *mapping.RuleError }

// FaultKind: the case cannot be texted as it stands.
func (e *NotReachableError) FaultKind() fault.Kind { return fault.Unprocessable }

func (e *NotReachableError) Error() string {
	return "the case has no number to text: " + e.Rule.Error()
}

// Permanent: no retry gives the case a number (queue.Classify).
func (e *NotReachableError) Permanent() bool { return true }

// New checks cfg.
func New(cfg Config) (*Flow, error) {
	if cfg.Messages == nil || cfg.CRM == nil || cfg.Store == nil || cfg.Links == nil || cfg.Mappings == nil {
		return nil, errors.New("selfreport: Messages, CRM, Store, Links and Mappings are required")
	}
	if cfg.ActiveTTL <= 0 {
		cfg.ActiveTTL = 30 * 24 * time.Hour
	}
	f := &Flow{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Redis keys. Ids only; the case's first name is a value, kept while its
// link can be opened.
func outKey(caseID string) string    { return "selfreport:out:" + caseID }
func linkKey(linkID string) string   { return "selfreport:link:" + linkID }
func activeKey(caseID string) string { return "selfreport:active:" + caseID }

type linkState struct {
	CaseID    string `json:"case_id"`
	FirstName string `json:"first_name,omitempty"`
}

// Request is a tracer's "ask this case for their contacts": it reads the
// case and texts a link unless one is out and unused (sent is false then).
func (f *Flow) Request(ctx context.Context, recordID string) (sent bool, err error) {
	cc := f.caseContacts()
	if cc == nil {
		return false, ErrNotMapped
	}
	if !salesforce.ValidID(recordID) {
		return false, ErrInvalidID
	}
	// One key per case whichever form the tracer's id came in.
	caseID := id18(recordID)
	rec, err := f.cfg.CRM.Get(ctx, cc.Source(), caseID, cc.Fields())
	if err != nil {
		var ae *salesforce.APIError
		if errors.As(err, &ae) && ae.Status == 404 {
			return false, ErrNotFound
		}
		f.log.Error("case not read", "case_id", caseID, "err", err)
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	sent, err = f.ask(ctx, cc, caseID, mapping.Record(rec))
	var nr *NotReachableError
	switch {
	case err == nil, errors.Is(err, ErrUncertain), errors.As(err, &nr):
		return sent, err
	}
	return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// id18 is a Salesforce id's 18-character form: the 15 case-sensitive
// characters and a 3-character checksum of their upper-case letters.
func id18(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for i := 0; i < 3; i++ {
		n := 0
		for j := 0; j < 5; j++ {
			if c := id[i*5+j]; c >= 'A' && c <= 'Z' {
				n |= 1 << j
			}
		}
		suffix[i] = alphabet[n]
	}
	return id + string(suffix)
}

func (f *Flow) caseContacts() *mapping.CaseContacts {
	m := f.cfg.Mappings.Current()
	if m == nil {
		return nil
	}
	return m.CaseContacts()
}

// ask texts the case a fresh link unless one is out.
func (f *Flow) ask(ctx context.Context, cc *mapping.CaseContacts, caseID string, rec mapping.Record) (bool, error) {
	to, err := cc.To(rec)
	if err != nil {
		var re *mapping.RuleError
		if errors.As(err, &re) {
			return false, &NotReachableError{Rule: re}
		}
		return false, err
	}
	lang := f.cfg.Links.Language(cc.Language(rec))
	token, linkID, err := f.cfg.Links.Mint(caseID, lang)
	if err != nil {
		return false, fmt.Errorf("mint report link: %w", err)
	}
	fresh, err := f.cfg.Store.SetNX(ctx, outKey(caseID), linkID, f.cfg.Links.ValidFor())
	if err != nil {
		return false, fmt.Errorf("claim report link: %w", err)
	}
	if !fresh {
		f.log.Info("report link already out; nothing sent", "case_id", caseID)
		return false, nil
	}
	release := func() {
		if err := f.cfg.Store.Del(context.WithoutCancel(ctx), outKey(caseID), linkKey(linkID)); err != nil {
			f.log.Error("report link claim not released", "case_id", caseID, "err", err)
		}
	}
	name := firstWord(cc.Name(rec))
	state, _ := json.Marshal(linkState{CaseID: caseID, FirstName: name})
	if err := f.cfg.Store.Set(ctx, linkKey(linkID), string(state), f.cfg.Links.ValidFor()); err != nil {
		release()
		return false, fmt.Errorf("keep report link: %w", err)
	}
	sid, err := f.cfg.Messages.SendMessage(ctx, to, cc.Render(lang, name, f.cfg.Links.URL(token)))
	if err != nil {
		if twilio.IsAmbiguous(err) {
			f.log.Warn("report link text outcome unknown; not sent again", "case_id", caseID, "err", err)
			return false, ErrUncertain
		}
		release()
		return false, fmt.Errorf("text report link: %w", err)
	}
	f.log.Info("report link sent", "case_id", caseID, "message_sid", sid, "language", lang)
	return true, nil
}

// firstWord keeps the first name only, whatever the name rule reads.
func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// Handle is the "selfreport" queue's handler: a case record entering
// case_contacts.when is texted a link once; leaving the state is noted,
// so entering it again asks again.
func (f *Flow) Handle(ctx context.Context, msgs []queue.Message) []error {
	errs := make([]error, len(msgs))
	cc := f.caseContacts()
	for i, msg := range msgs {
		var rec event.Record
		if err := json.Unmarshal(msg.Payload, &rec); err != nil {
			errs[i] = queue.Permanent(fmt.Errorf("decode record event: %w", err))
			continue
		}
		if cc == nil || !strings.EqualFold(rec.Object, cc.Source()) || rec.RecordID == "" {
			continue
		}
		errs[i] = f.handleRecord(ctx, cc, rec)
	}
	return errs
}

func (f *Flow) handleRecord(ctx context.Context, cc *mapping.CaseContacts, rec event.Record) error {
	if !cc.Active(mapping.Record(rec.Fields)) {
		if err := f.cfg.Store.Del(ctx, activeKey(rec.RecordID)); err != nil {
			return fmt.Errorf("note case %s left the request state: %w", rec.RecordID, err)
		}
		return nil
	}
	entering, err := f.cfg.Store.SetNX(ctx, activeKey(rec.RecordID), "1", f.cfg.ActiveTTL)
	if err != nil {
		return fmt.Errorf("note case %s in the request state: %w", rec.RecordID, err)
	}
	if !entering {
		return nil
	}
	_, err = f.ask(ctx, cc, rec.RecordID, mapping.Record(rec.Fields))
	if err == nil || errors.Is(err, ErrUncertain) {
		return nil
	}
	// Not asked: forget the state, so the retry (or the record's next
	// notification) enters it again.
	if derr := f.cfg.Store.Del(context.WithoutCancel(ctx), activeKey(rec.RecordID)); derr != nil {
		f.log.Error("case request state not released", "case_id", rec.RecordID, "err", derr)
	}
	// A case without a number and Twilio's 4xx other than 429 are final
	// (queue.Classify through their Permanent methods).
	return queue.Classify(fmt.Errorf("ask case %s for contacts: %w", rec.RecordID, err))
}

// ReportFirstName is the greeting's name for an open link (survey.ReportCases).
func (f *Flow) ReportFirstName(ctx context.Context, caseID, linkID string) (string, bool, error) {
	raw, found, err := f.cfg.Store.Get(ctx, linkKey(linkID))
	if err != nil || !found {
		return "", false, err
	}
	var st linkState
	if json.Unmarshal([]byte(raw), &st) != nil || st.CaseID != caseID {
		return "", false, nil
	}
	return st.FirstName, st.FirstName != "", nil
}

// ReportDone forgets a used link: the case may be asked again, and its
// name leaves Redis (survey.ReportCases).
func (f *Flow) ReportDone(ctx context.Context, caseID, linkID string) error {
	out, found, err := f.cfg.Store.Get(ctx, outKey(caseID))
	if err != nil {
		return err
	}
	keys := []string{linkKey(linkID)}
	if found && out == linkID {
		keys = append(keys, outKey(caseID))
	}
	return f.cfg.Store.Del(ctx, keys...)
}
