package mapping

import (
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v4"
)

// Escalate is the compiled escalate section: which survey answers, how
// many missed days and which reply words open a task for a tracer.
type Escalate struct {
	when       map[string]any // survey field -> answer that escalates
	whenOrder  []string
	missedDays int
	grace      time.Duration
	priority   int
	keywords   map[string][]string // language -> lower-cased words
}

// Defaults for keys the escalate section may leave out.
const DefaultGrace = 12 * time.Hour

func (p *parser) escalate(e pair, survey *Survey) *Escalate {
	m, ok := p.object(e.val, e.fullPath, "when", "missed_days", "grace", "priority", "keywords")
	if !ok {
		return nil
	}
	x := &Escalate{when: map[string]any{}, grace: DefaultGrace, keywords: map[string][]string{}}
	if w, ok := m["when"]; ok {
		ps, _ := p.pairs(w.val, w.fullPath)
		for _, kv := range ps {
			if !validSFName(kv.key, false) {
				p.add(kv.keyNode, kv.fullPath, "%q is not a Salesforce field name", kv.key)
				continue
			}
			if survey != nil && !survey.asks(kv.key) {
				p.add(kv.keyNode, kv.fullPath, "%s is not one of survey_to_crm.questions", kv.key)
				continue
			}
			if v, ok := p.scalarValue(kv.val, kv.fullPath); ok && v != nil {
				x.when[strings.ToLower(kv.key)] = v
				x.whenOrder = append(x.whenOrder, kv.key)
			} else if ok {
				p.add(kv.val, kv.fullPath, "must have a value")
			}
		}
	}
	if d, ok := m["missed_days"]; ok {
		var n int
		if d.val.Kind != yaml.ScalarNode || d.val.Decode(&n) != nil || n < 1 || n > MaxDays {
			p.add(d.val, d.fullPath, "must be a whole number from 1 to %d", MaxDays)
		} else {
			x.missedDays = n
		}
	}
	if g, ok := m["grace"]; ok {
		if s, ok := p.str(g); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > 72*time.Hour {
				p.add(g.val, g.fullPath, "must be a duration like 12h or 90m, more than 0 and at most 72h")
			} else {
				x.grace = d
			}
		}
	}
	if pr, ok := m["priority"]; ok {
		var n int
		if pr.val.Kind != yaml.ScalarNode || pr.val.Decode(&n) != nil || n < 0 {
			p.add(pr.val, pr.fullPath, "must be a whole number, 0 or more (TaskRouter's Priority)")
		} else {
			x.priority = n
		}
	}
	if k, ok := m["keywords"]; ok {
		ps, _ := p.pairs(k.val, k.fullPath)
		for _, kv := range ps {
			if !langRe.MatchString(kv.key) {
				p.add(kv.keyNode, kv.fullPath, "%q is not a language code like en or es-MX", kv.key)
				continue
			}
			words, ok := p.stringList(kv)
			if !ok {
				continue
			}
			for i, w := range words {
				if w == "" {
					p.add(kv.val, kv.fullPath, "word %d is empty", i)
					continue
				}
				x.keywords[strings.ToLower(kv.key)] = append(x.keywords[strings.ToLower(kv.key)], strings.ToLower(w))
			}
		}
	}
	return x
}

// MissedDays is how many consecutive missed days escalate; 0 means never.
func (x *Escalate) MissedDays() int { return x.missedDays }

// Grace is how long after its send time a day without an answer is missed.
func (x *Escalate) Grace() time.Duration { return x.grace }

// Priority is the escalation task's TaskRouter Priority.
func (x *Escalate) Priority() int { return x.priority }

// Symptoms reports which answered fields escalate, in document order. An
// answer is the survey's raw value: yes/no for yesno questions, text else.
func (x *Escalate) Symptoms(answers map[string]any) []string {
	var out []string
	for _, field := range x.whenOrder {
		want := x.when[strings.ToLower(field)]
		got, ok := lookupFold(answers, field)
		if ok && sameAnswer(got, want) {
			out = append(out, field)
		}
	}
	return out
}

// sameAnswer compares an answer with the mapping's value: booleans match
// yes/no, true/false and 1/0, anything else compares as trimmed text.
func sameAnswer(got, want any) bool {
	if wb, ok := want.(bool); ok {
		gb, ok := toBool(got)
		return ok && gb.(bool) == wb
	}
	gs, ok1 := stringForm(got)
	ws, ok2 := stringForm(want)
	return ok1 && ok2 && strings.EqualFold(strings.TrimSpace(gs), strings.TrimSpace(ws))
}

// ReplyKeyword reports whether an SMS body holds one of the keywords, as a
// whole word, in any language (contacts do not always reply in the
// language on their record).
func (x *Escalate) ReplyKeyword(body string) bool {
	words := strings.FieldsFunc(strings.ToLower(body), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, list := range x.keywords {
		for _, k := range list {
			kw := strings.Fields(k)
			for i := 0; i+len(kw) <= len(words); i++ {
				match := true
				for j := range kw {
					if words[i+j] != kw[j] {
						match = false
						break
					}
				}
				if match {
					return true
				}
			}
		}
	}
	return false
}
