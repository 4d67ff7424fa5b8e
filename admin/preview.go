package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/flow/clicktocall"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/flow/recordsync"
	"github.com/cityhealth/bridge/flow/writeback"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/webhooks"
)

// Preview flows.
const (
	FlowRecordToTask = "record_to_task"
	FlowClickToCall  = "click_to_call"
	FlowReminders    = "reminders"
	FlowOutcomeToCRM = "outcome_to_crm"
	FlowSurveyToCRM  = "survey_to_crm"
)

// PreviewLink stands in for the survey link in reminder previews.
const PreviewLink = "[survey link]"

// previewRequest is the body of POST /admin/api/mappings/preview.
type previewRequest struct {
	Flow      string          `json:"flow"`
	RecordID  string          `json:"record_id"`
	Record    map[string]any  `json:"record"`
	Mapping   json.RawMessage `json:"mapping"` // unsaved document: text, or a JSON object
	Event     map[string]any  `json:"event"`   // outcome_to_crm
	ContactID string          `json:"contact_id"`
	Date      string          `json:"date"`
	Language  string          `json:"language"`
	Answers   map[string]any  `json:"answers"`
}

var recordIDRe = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// errNoSection: the mapping previewed lacks the flow's section.
func errNoSection(flow string) error {
	return fault.New(fault.Unprocessable, "the mapping has no "+flow+" section")
}

// previewError words a refusal for the admin: the mapping's rule and the
// field it reads, or Salesforce's code; never a value.
func previewError(err error) error {
	var (
		ruleErr     *mapping.RuleError
		notCallable *clicktocall.NotCallableError
		sfErr       *salesforce.APIError
	)
	switch {
	case errors.As(err, &notCallable):
		msg := notCallable.Rule + ": the record has no callable number"
		if notCallable.Field != "" {
			msg += " (" + notCallable.Field + ")"
		}
		return fault.Wrap(err, fault.Unprocessable, msg)
	case fault.KindOf(err) != fault.Internal:
		return err
	case errors.As(err, &ruleErr):
		return fault.Wrap(err, fault.Unprocessable, ruleErr.Error())
	case errors.As(err, &sfErr):
		// Salesforce's message can quote values; only its code is safe.
		msg := "Salesforce refused the read"
		if sfErr.Code != "" {
			msg += " (" + sfErr.Code + ")"
		}
		return fault.Wrap(err, fault.Upstream, msg)
	}
	return err
}

// preview runs a flow's mapping over a record or event and answers what
// the bridge would send, sending nothing: the only outside call is the
// Salesforce read of a record_id.
func (a *API) preview(c *gin.Context) {
	body, err := readBody(c, maxBody)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	var req previewRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(c, a.log, badRequest("the body must be a JSON object like {\"flow\":\"record_to_task\",\"record_id\":\"003…\"}: "+jsonProblem(err)))
		return
	}
	if id, err := salesforce.ID18(req.RecordID); err == nil {
		req.RecordID = id // one record, one spelling, in reads and in the audit
	}
	// Every preview is audited, refused or not: who, flow, record id; never
	// a value.
	a.audit(c, "mapping.preview", "flow", req.Flow, "record_id", req.RecordID, "draft", len(bytes.TrimSpace(req.Mapping)) > 0)
	m, err := a.previewMapping(req.Mapping)
	if err != nil {
		writeError(c, a.log, err)
		return
	}
	ctx := c.Request.Context()
	var out any
	switch req.Flow {
	case FlowRecordToTask:
		out, err = a.previewRecordToTask(ctx, m, req)
	case FlowClickToCall:
		out, err = a.previewClickToCall(ctx, m, req)
	case FlowReminders:
		out, err = a.previewReminders(ctx, m, req)
	case FlowOutcomeToCRM:
		out, err = previewOutcome(m, req)
	case FlowSurveyToCRM:
		out, err = a.previewSurvey(m, req)
	default:
		err = badRequest("flow must be one of " + strings.Join([]string{FlowRecordToTask, FlowClickToCall, FlowReminders, FlowOutcomeToCRM, FlowSurveyToCRM}, ", "))
	}
	if err != nil {
		writeError(c, a.log, previewError(err))
		return
	}
	c.JSON(http.StatusOK, out)
}

// jsonProblem names what is wrong with a body without quoting its values.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "not valid JSON at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return typ.Field + " must be " + typ.Type.String()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown key " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not valid JSON"
}

// previewMapping is the unsaved document when one is given (validated like
// a save), else the mapping in force.
func (a *API) previewMapping(raw json.RawMessage) (*mapping.Mapping, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return a.cfg.Store.Current(), nil
	}
	doc := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("mapping must be the document's text or a JSON object")
		}
		doc = []byte(s)
	}
	// The same validation as a save, the always-protected fields included:
	// a draft cannot lift a protection a save could not.
	return a.cfg.Store.Parse(doc)
}

// record reads the record a record flow previews: from Salesforce with
// exactly the fields the section needs, or inline. Protected fields are
// dropped either way.
func (a *API) record(ctx context.Context, m *mapping.Mapping, req previewRequest, object string, fields []string) (mapping.Record, string, error) {
	switch {
	case req.RecordID != "" && req.Record != nil:
		return nil, "", badRequest("give record_id or record, not both")
	case req.Record != nil:
		id, _ := req.Record["Id"].(string)
		return m.Redact(mapping.Record(req.Record)), id, nil
	case req.RecordID == "":
		return nil, "", badRequest("give record_id (read from Salesforce) or record (inline)")
	case !recordIDRe.MatchString(req.RecordID):
		return nil, "", badRequest("record_id must be a 15- or 18-character Salesforce id")
	}
	read := make([]string, 0, len(fields))
	for _, f := range fields {
		if !m.IsProtected(f) {
			read = append(read, f)
		}
	}
	if len(read) == 0 {
		read = []string{"Id"} // no field list would read every field
	}
	rec, err := a.cfg.CRM.Get(ctx, object, req.RecordID, read)
	var apiErr *salesforce.APIError
	switch {
	case err == nil:
	case errors.Is(err, salesforce.ErrNotFound):
		return nil, "", errRecordNotFound
	case errors.As(err, &apiErr), errors.Is(err, context.Canceled):
		return nil, "", err
	default:
		a.log.Warn("preview: read record failed", "object", object, "record_id", req.RecordID, "err", err)
		return nil, "", errCRMUnavailable
	}
	return m.Redact(mapping.Record(rec)), req.RecordID, nil
}

func (a *API) previewRecordToTask(ctx context.Context, m *mapping.Mapping, req previewRequest) (any, error) {
	rt := m.RecordToTask()
	if rt == nil {
		return nil, errNoSection(FlowRecordToTask)
	}
	rec, id, err := a.record(ctx, m, req, rt.Object(), rt.Fields())
	if err != nil {
		return nil, err
	}
	attrs, prio, err := recordsync.TaskAttributes(rt, rec, id, rt.Object())
	if err != nil {
		return nil, err
	}
	return gin.H{"action": rt.Action(rec).String(), "attributes": attrs, "priority": prio}, nil
}

func (a *API) previewClickToCall(ctx context.Context, m *mapping.Mapping, req previewRequest) (any, error) {
	ctc := m.ClickToCall()
	if ctc == nil {
		return nil, errNoSection(FlowClickToCall)
	}
	rec, id, err := a.record(ctx, m, req, ctc.Object(), ctc.Fields())
	if err != nil {
		return nil, err
	}
	attrs, err := clicktocall.Attributes(ctc, rec, id, a.cfg.CallerID, "")
	if err != nil {
		return nil, err
	}
	return gin.H{"attributes": attrs}, nil
}

type reminderMessage struct {
	Day    int    `json:"day"`
	Date   string `json:"date"`
	SendAt string `json:"send_at"`
	Body   string `json:"body"`
}

func (a *API) previewReminders(ctx context.Context, m *mapping.Mapping, req previewRequest) (any, error) {
	r := m.Reminders()
	if r == nil {
		return nil, errNoSection(FlowReminders)
	}
	rec, _, err := a.record(ctx, m, req, r.Object(), r.Fields())
	if err != nil {
		return nil, err
	}
	active := r.Active(rec)
	to, err := r.To(rec)
	if err != nil && active {
		return nil, err
	}
	plan := monitoring.PlanReminders(r, rec, a.cfg.Now(), a.cfg.Location, PreviewLink)
	msgs := make([]reminderMessage, len(plan.Days))
	for i, d := range plan.Days {
		msgs[i] = reminderMessage{Day: i + 1, Date: d.Date, SendAt: d.SendAt.Format(time.RFC3339), Body: d.Body}
	}
	out := gin.H{"active": active, "start": plan.Start, "start_from_record": plan.StartFromRecord, "language": plan.Language, "messages": msgs}
	if to != "" {
		out["to"] = to
	}
	return out, nil
}

func previewOutcome(m *mapping.Mapping, req previewRequest) (any, error) {
	o := m.OutcomeToCRM()
	if o == nil {
		return nil, errNoSection(FlowOutcomeToCRM)
	}
	if req.Event == nil {
		return nil, badRequest(`give "event": TaskRouter's form fields (TaskSid, TaskAttributes, …) or a tree {"task": {…}}`)
	}
	fields, fu, err := o.Apply(eventTree(req.Event))
	if err != nil {
		return nil, err
	}
	var followUp any
	if fu != nil {
		followUp = fu.Record(o.ExternalIDField())
	}
	return gin.H{"fields": fields, "follow_up": followUp}, nil
}

// eventTree is what outcome rules read: a tree given as one (attributes may
// still be TaskRouter's JSON string), or TaskRouter's callback form fields
// read by the webhook's own TaskEvent.
func eventTree(ev map[string]any) map[string]any {
	if t, ok := ev["task"].(map[string]any); ok {
		if s, ok := t["attributes"].(string); ok {
			var attrs map[string]any
			if json.Unmarshal([]byte(s), &attrs) == nil {
				t["attributes"] = attrs
			}
		}
		return ev
	}
	form := url.Values{}
	for k, v := range ev {
		if m, ok := v.(map[string]any); ok && k == "TaskAttributes" {
			js, _ := json.Marshal(m) // decoded from JSON, so it encodes
			form.Set(k, string(js))
			continue
		}
		form.Set(k, scalarString(v))
	}
	// Attributes that are not a JSON object leave the tree without them, as
	// the webhook would have had nothing to map.
	t, _ := webhooks.TaskEvent(form)
	return writeback.TaskTree(&t)
}

// scalarString is a JSON scalar as form text ("" for anything else).
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func (a *API) previewSurvey(m *mapping.Mapping, req previewRequest) (any, error) {
	s := m.SurveyToCRM()
	if s == nil {
		return nil, errNoSection(FlowSurveyToCRM)
	}
	answers := make(map[string]string, len(req.Answers))
	for k, v := range req.Answers {
		switch x := v.(type) {
		case nil:
		case bool:
			answers[k] = map[bool]string{true: "yes", false: "no"}[x]
		case string, float64:
			answers[k] = scalarString(x)
		default:
			return nil, badRequest("answers." + k + " must be text, a number or true/false")
		}
	}
	lang := req.Language
	if lang == "" {
		lang = "en"
	}
	tree := writeback.SurveyTree(&event.Survey{ContactID: req.ContactID, Language: lang, Date: req.Date, SubmittedAt: a.cfg.Now().UTC()})
	fields, err := s.Apply(tree, answers)
	if err != nil {
		return nil, err
	}
	return gin.H{"fields": fields}, nil
}
