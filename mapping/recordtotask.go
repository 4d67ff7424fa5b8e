package mapping

import (
	"strings"
)

// Action is what a record change asks of its outreach task.
type Action int

const (
	ActionNone   Action = iota // leave the task as it is
	ActionCreate               // create the task, or update the open one
	ActionCancel               // cancel the open task
)

func (a Action) String() string {
	switch a {
	case ActionCreate:
		return "create"
	case ActionCancel:
		return "cancel"
	}
	return "none"
}

// RecordToTask is the compiled record_to_task section.
type RecordToTask struct {
	object     string
	whenField  string
	whenParts  []string
	create     map[string]bool
	cancel     map[string]bool
	priority   *rule
	attributes []attribute
}

// reservedAttributes are set by the bridge on every task.
var reservedAttributes = []string{"crm"}

func (p *parser) recordToTask(e pair) *RecordToTask {
	m, ok := p.object(e.val, e.fullPath, "object", "when", "priority", "attributes")
	if !ok {
		return nil
	}
	r := &RecordToTask{create: map[string]bool{}, cancel: map[string]bool{}}
	if o, ok := p.need(m, e.val, e.fullPath, "object"); ok {
		r.object, _ = p.sfName(o, false)
	}
	if w, ok := p.need(m, e.val, e.fullPath, "when"); ok {
		if wm, ok := p.object(w.val, w.fullPath, "field", "create", "cancel"); ok {
			if f, ok := p.need(wm, w.val, w.fullPath, "field"); ok {
				if s, ok := p.sfName(f, true); ok {
					r.whenField, r.whenParts = s, strings.Split(s, ".")
				}
			}
			if c, ok := p.need(wm, w.val, w.fullPath, "create"); ok {
				vals, _ := p.stringList(c)
				for _, v := range vals {
					r.create[v] = true
				}
			}
			if c, ok := wm["cancel"]; ok {
				vals, _ := p.stringList(c)
				for _, v := range vals {
					if r.create[v] {
						p.add(c.val, c.fullPath, "%q is also a create value", v)
					}
					r.cancel[v] = true
				}
			}
		}
	}
	if pr, ok := m["priority"]; ok {
		r.priority = p.priorityRule(pr)
	}
	if a, ok := m["attributes"]; ok {
		r.attributes = p.attributes(a, reservedAttributes)
	}
	return r
}

// priorityRule is a record rule whose final value must be an integer; a
// `map` may turn labels (High, Low) into numbers, so no transform is forced.
func (p *parser) priorityRule(e pair) *rule {
	r := p.rule(e.val, e.fullPath, recordScope)
	if r == nil {
		return nil
	}
	for k, v := range r.mapTo {
		if _, ok := toInt(v); !ok {
			p.add(e.val, join(e.fullPath, "map."+k), "priority must map to a whole number")
		}
	}
	if r.def != nil {
		if _, ok := toInt(r.def); !ok {
			p.add(e.val, join(e.fullPath, "default"), "priority default must be a whole number")
		}
	}
	if r.kind == fromConst {
		if _, ok := toInt(r.value); !ok && r.transform == nil && r.mapTo == nil {
			p.add(e.val, join(e.fullPath, "const"), "priority must be a whole number")
		}
	}
	return r
}

// Object is the Salesforce object the section reads.
func (r *RecordToTask) Object() string {
	if r == nil {
		return ""
	}
	return r.object
}

// Fields lists the Salesforce fields the section reads, sorted.
func (r *RecordToTask) Fields() []string {
	if r == nil {
		return nil
	}
	fs := append(ruleFields(r.priority), r.whenField)
	for _, a := range r.attributes {
		fs = append(fs, ruleFields(a.rule)...)
	}
	return sortedFields(fs...)
}

// Action compares the `when` field with the create and cancel values. The
// record's value is trimmed of surrounding spaces, then compared exactly
// (case-sensitive, as Salesforce picklist values are).
func (r *RecordToTask) Action(rec Record) Action {
	if r == nil {
		return ActionNone
	}
	v := readField(rec, r.whenField, r.whenParts)
	s, ok := stringForm(v)
	if !ok {
		return ActionNone
	}
	s = strings.TrimSpace(s)
	switch {
	case r.create[s]:
		return ActionCreate
	case r.cancel[s]:
		return ActionCancel
	}
	return ActionNone
}

// Apply builds the task attributes (without crm, which the caller adds) and
// the TaskRouter priority (0 when the rule is absent or yields no integer).
func (r *RecordToTask) Apply(rec Record) (attrs map[string]any, priority int, err error) {
	if r == nil {
		return nil, 0, ErrSectionMissing
	}
	if r.priority != nil {
		v, err := r.priority.eval(rec, nil)
		if err != nil {
			return nil, 0, err
		}
		if i, ok := toInt(v); ok {
			priority = i.(int)
		}
	}
	attrs, err = applyAttributes(r.attributes, rec)
	if err != nil {
		return nil, 0, err
	}
	return attrs, priority, nil
}

// ClickToCall is the compiled click_to_call section.
type ClickToCall struct {
	object     string
	attributes []attribute
}

// clickToCallReserved: the bridge sets these on the outbound task itself.
var clickToCallReserved = []string{"crm", "direction", "from", "targetWorker"}

func (p *parser) clickToCall(e pair) *ClickToCall {
	m, ok := p.object(e.val, e.fullPath, "object", "attributes")
	if !ok {
		return nil
	}
	c := &ClickToCall{}
	if o, ok := p.need(m, e.val, e.fullPath, "object"); ok {
		c.object, _ = p.sfName(o, false)
	}
	if a, ok := p.need(m, e.val, e.fullPath, "attributes"); ok {
		c.attributes = p.attributes(a, clickToCallReserved)
		hasTo := false
		for _, at := range c.attributes {
			if len(at.parts) == 1 && at.parts[0] == "to" {
				// a record without a callable number must fail, flagged or not
				at.rule.required = true
				hasTo = true
			}
		}
		if !hasTo && !hasKey(a.val, "to") {
			p.add(a.val, join(a.fullPath, "to"), "is required: click-to-call dials it")
		}
	}
	return c
}

// Object is the Salesforce object the section reads.
func (c *ClickToCall) Object() string {
	if c == nil {
		return ""
	}
	return c.object
}

// Fields lists the Salesforce fields the section reads, sorted.
func (c *ClickToCall) Fields() []string {
	if c == nil {
		return nil
	}
	var fs []string
	for _, a := range c.attributes {
		fs = append(fs, ruleFields(a.rule)...)
	}
	return sortedFields(fs...)
}

// Apply builds the call's context attributes (`to` among them). The `to`
// rule is always required: a record without a usable number fails with a
// *RuleError naming the field.
func (c *ClickToCall) Apply(rec Record) (map[string]any, error) {
	if c == nil {
		return nil, ErrSectionMissing
	}
	return applyAttributes(c.attributes, rec)
}
