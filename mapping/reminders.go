package mapping

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Reminders is the compiled reminders section. It reads records of
// Object(): contact_updates.object, else record_to_task.object, else Contact.
type Reminders struct {
	object    string
	optOut    string // contact_updates.opt_out_field when on the same object
	whenField string
	whenParts []string
	active    map[string]bool
	start     *rule
	days      int
	hour, min int
	templates map[string]string
	name      *rule
	to        *rule
	language  *rule

	time         *rule
	channel      *rule
	fallback     string
	email        *rule
	emailSubject map[string]string
	whatsapp     map[string]string // language -> Content SID
	voice        map[string]string
}

// Defaults for keys the reminders section may leave out.
const (
	DefaultDays = 14
	DefaultAt   = "10:00"
	// MaxDays: Twilio schedules messages at most 35 days ahead.
	MaxDays = 35
)

func (p *parser) reminders(e pair) *Reminders {
	m, ok := p.object(e.val, e.fullPath, "when", "start", "days", "at", "templates", "name", "to", "language",
		"time", "channel", "fallback", "email", "email_subject", "whatsapp", "voice")
	if !ok {
		return nil
	}
	r := &Reminders{active: map[string]bool{}, days: DefaultDays, hour: 10}
	if w, ok := p.need(m, e.val, e.fullPath, "when"); ok {
		if wm, ok := p.object(w.val, w.fullPath, "field", "active"); ok {
			if f, ok := p.need(wm, w.val, w.fullPath, "field"); ok {
				if s, ok := p.sfName(f, true); ok {
					r.whenField, r.whenParts = s, strings.Split(s, ".")
				}
			}
			if a, ok := p.need(wm, w.val, w.fullPath, "active"); ok {
				vals, _ := p.stringList(a)
				for _, v := range vals {
					r.active[v] = true
				}
			}
		}
	}
	if s, ok := m["start"]; ok {
		if r.start = p.rule(s.val, s.fullPath, recordScope); r.start != nil {
			if r.start.transform == nil {
				r.start.transform = toDate // a start is always a date
			} else if !p.isTransform(s.val, "date") {
				p.add(s.val, join(s.fullPath, "transform"), "start is a date: use transform date or none")
			}
		}
	}
	if d, ok := m["days"]; ok {
		var n int
		if d.val.Kind != yaml.ScalarNode || d.val.Decode(&n) != nil || n < 1 || n > MaxDays {
			p.add(d.val, d.fullPath, "must be a whole number from 1 to %d", MaxDays)
		} else {
			r.days = n
		}
	}
	if a, ok := m["at"]; ok {
		if s, ok := p.str(a); ok {
			if h, mi, ok := parseAt(s); ok {
				r.hour, r.min = h, mi
			} else {
				p.add(a.val, a.fullPath, "must be a time of day as HH:MM, 00:00 to 23:59")
			}
		}
	}
	if t, ok := p.need(m, e.val, e.fullPath, "templates"); ok {
		if texts, ok := p.languageTexts(t); ok {
			r.templates = texts
			p.placeholders(t, true)
		}
	}
	if n, ok := m["name"]; ok {
		r.name = p.rule(n.val, n.fullPath, recordScope)
	}
	if t, ok := p.need(m, e.val, e.fullPath, "to"); ok {
		r.to = p.rule(t.val, t.fullPath, recordScope)
	}
	if l, ok := m["language"]; ok {
		r.language = p.rule(l.val, l.fullPath, recordScope)
	}
	p.reminderChannels(m, e, r)
	return r
}

func (p *parser) isTransform(n *yaml.Node, name string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "transform" {
			return n.Content[i+1].Value == name
		}
	}
	return false
}

func parseAt(s string) (hour, minute int, ok bool) {
	m := atRe.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return h, mi, true
}

// templateProblems checks placeholders: only {{name}} and {{link}}, well
// formed, and (with requireLink) {{link}} present, since every text
// reminder carries its survey link.
func templateProblems(s string, requireLink bool) []string {
	var out []string
	hasLink := false
	rest := s
	for {
		i := strings.Index(rest, "{{")
		j := strings.Index(rest, "}}")
		if j >= 0 && (i < 0 || j < i) {
			out = append(out, `has "}}" without "{{"`)
			rest = rest[j+2:]
			continue
		}
		if i < 0 {
			break
		}
		end := strings.Index(rest[i+2:], "}}")
		if end < 0 {
			out = append(out, `has "{{" without "}}"`)
			break
		}
		switch ph := rest[i+2 : i+2+end]; ph {
		case "name":
		case "link":
			hasLink = true
		default:
			out = append(out, "unknown placeholder {{"+ph+"}}: only {{name}} and {{link}} are allowed")
		}
		rest = rest[i+2+end+2:]
	}
	if requireLink && !hasLink {
		out = append(out, "must contain {{link}}, the survey link")
	}
	return out
}

// Object is the Salesforce object whose records carry the reminder fields.
func (r *Reminders) Object() string { return r.object }

// Fields lists the Salesforce fields the section reads, sorted; the opt-out
// field is among them when it lives on the same object.
func (r *Reminders) Fields() []string {
	return sortedFields(append(ruleFields(r.start, r.name, r.to, r.language, r.time, r.channel, r.email), r.whenField, r.optOut)...)
}

// Active reports whether the record is in monitoring: its `when` value
// (trimmed, then compared exactly) is an active one, and it has not opted
// out of SMS.
func (r *Reminders) Active(rec Record) bool {
	s, ok := stringForm(readField(rec, r.whenField, r.whenParts))
	if !ok || !r.active[strings.TrimSpace(s)] {
		return false
	}
	if r.optOut != "" {
		if b, ok := toBool(readField(rec, r.optOut, []string{r.optOut})); ok && b.(bool) {
			return false
		}
	}
	return true
}

// Start is the first monitoring day as YYYY-MM-DD; ok is false when the
// record has none (the caller then starts from today in BRIDGE_TIMEZONE).
func (r *Reminders) Start(rec Record) (date string, ok bool) {
	if r.start == nil {
		return "", false
	}
	v, _ := r.start.eval(rec, nil)
	if v == nil {
		return "", false
	}
	s, ok := v.(string)
	if _, valid := toDate(s); !valid {
		return "", false // a const or default that is not a date
	}
	return s, ok
}

// Days is how many daily reminders are sent.
func (r *Reminders) Days() int { return r.days }

// At is the local time of day reminders go out.
func (r *Reminders) At() (hour, minute int) { return r.hour, r.min }

// Languages lists the template languages.
func (r *Reminders) Languages() []string {
	out := make([]string, 0, len(r.templates))
	for k := range r.templates {
		out = append(out, k)
	}
	return sortedFields(out...)
}

// Render fills the template for lang (es-MX falls back to es, then en). It
// substitutes in one pass, so a name containing "{{link}}" stays text.
func (r *Reminders) Render(lang, name, link string) string {
	return strings.NewReplacer("{{name}}", name, "{{link}}", link).Replace(pickLang(r.templates, lang))
}

// To is the number reminders go to; a record without one fails with a
// *RuleError naming the field.
func (r *Reminders) To(rec Record) (string, error) {
	v, err := r.to.eval(rec, nil)
	if err == nil && v == nil {
		err = &RuleError{Path: r.to.at, Field: r.to.source(), Reason: "no number to send reminders to"}
	}
	if err != nil {
		return "", err
	}
	s, _ := stringForm(v)
	return s, nil
}

// Name is the {{name}} of the record, "" when the rule is absent or empty.
func (r *Reminders) Name(rec Record) string {
	if r.name == nil {
		return ""
	}
	v, _ := r.name.eval(rec, nil)
	s, _ := stringForm(v)
	return s
}

// Language is the record's language code, "en" when nothing says otherwise.
func (r *Reminders) Language(rec Record) string {
	if r.language == nil {
		return "en"
	}
	v, _ := r.language.eval(rec, nil)
	s, _ := stringForm(v)
	if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
		return "en"
	}
	return s
}
