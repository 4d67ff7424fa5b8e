package mapping

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Reminder channels, as `reminders.channel` and `reminders.fallback` name them.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelVoice    = "voice"
	ChannelEmail    = "email"
)

// Channels lists every channel a rule may yield.
var Channels = []string{ChannelSMS, ChannelWhatsApp, ChannelVoice, ChannelEmail}

// contentSidRe is a Twilio Content template SID (HX + 32 hex).
var contentSidRe = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

// timeOfDayRe reads HH:MM, or a Salesforce Time (HH:MM:SS.sssZ) as
// Outbound Messages carry it.
var timeOfDayRe = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])(:[0-5][0-9](\.[0-9]{1,3})?Z?)?$`)

// reminderChannels compiles the channel keys of the reminders section.
func (p *parser) reminderChannels(m map[string]pair, e pair, r *Reminders) {
	if t, ok := m["time"]; ok {
		r.time = p.rule(t.val, t.fullPath, recordScope)
	}
	if c, ok := m["email"]; ok {
		r.email = p.rule(c.val, c.fullPath, recordScope)
	}
	possible := map[string]*yaml.Node{}
	if c, ok := m["channel"]; ok {
		if r.channel = p.rule(c.val, c.fullPath, recordScope); r.channel != nil {
			p.channelValues(c, possible)
		}
	}
	if f, ok := m["fallback"]; ok {
		if s, ok := p.str(f); ok {
			if !contains(Channels, s) {
				p.add(f.val, f.fullPath, "unknown channel %q (known: %s)", s, strings.Join(Channels, ", "))
			} else {
				r.fallback = s
				possible[s] = f.val
			}
		}
	}
	if s, ok := m["email_subject"]; ok {
		if texts, ok := p.languageTexts(s); ok {
			r.emailSubject = texts
			p.placeholders(s, false)
		}
	}
	if v, ok := m["voice"]; ok {
		if texts, ok := p.languageTexts(v); ok {
			r.voice = texts
			p.placeholders(v, false)
		}
	}
	if w, ok := m["whatsapp"]; ok {
		r.whatsapp = p.contentTemplates(w)
	}
	if n, ok := possible[ChannelWhatsApp]; ok && len(r.whatsapp) == 0 {
		p.add(n, join(e.fullPath, "whatsapp"), "is required: a contact can get the whatsapp channel, and WhatsApp refuses free text (give an approved Content template SID per language)")
	}
	if n, ok := possible[ChannelEmail]; ok && r.email == nil {
		p.add(n, join(e.fullPath, "email"), "is required: a contact can get the email channel (give the rule that reads the address)")
	}
}

// channelValues checks the channels a rule can yield by itself (const,
// default, map values) and notes them in possible.
func (p *parser) channelValues(c pair, possible map[string]*yaml.Node) {
	ps, _ := p.pairs(c.val, c.fullPath)
	check := func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode {
			return
		}
		s := strings.ToLower(strings.TrimSpace(n.Value))
		if !contains(Channels, s) {
			p.add(n, path, "unknown channel %q (known: %s)", n.Value, strings.Join(Channels, ", "))
			return
		}
		possible[s] = n
	}
	for _, kv := range ps {
		switch kv.key {
		case "const", "default":
			check(kv.val, kv.fullPath)
		case "map":
			if kv.val.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(kv.val.Content); i += 2 {
					check(kv.val.Content[i+1], join(kv.fullPath, kv.val.Content[i].Value))
				}
			}
		}
	}
}

// placeholders checks each language's text; requireLink for texts that
// must carry the survey link.
func (p *parser) placeholders(e pair, requireLink bool) {
	for i := 0; i+1 < len(e.val.Content); i += 2 {
		k, v := e.val.Content[i], e.val.Content[i+1]
		for _, msg := range templateProblems(v.Value, requireLink) {
			p.add(v, join(e.fullPath, k.Value), "%s", msg)
		}
	}
}

// contentTemplates reads `{en: HX…, es: HX…}`; no language is required, as
// a language without one falls back to SMS.
func (p *parser) contentTemplates(e pair) map[string]string {
	ps, ok := p.pairs(e.val, e.fullPath)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(ps))
	for _, kv := range ps {
		if !langRe.MatchString(kv.key) {
			p.add(kv.keyNode, kv.fullPath, "%q is not a language code like en or es-MX", kv.key)
			continue
		}
		if s, ok := p.str(kv); ok {
			if !contentSidRe.MatchString(s) {
				p.add(kv.val, kv.fullPath, "%q is not a Content template SID (HX followed by 32 hex digits)", s)
				continue
			}
			out[strings.ToLower(kv.key)] = s
		}
	}
	return out
}

// Channel is the record's reminder channel; anything unknown is sms.
func (r *Reminders) Channel(rec Record) string {
	if r.channel == nil {
		return ChannelSMS
	}
	v, _ := r.channel.eval(rec, nil)
	s, _ := stringForm(v)
	if s = strings.ToLower(strings.TrimSpace(s)); contains(Channels, s) {
		return s
	}
	return ChannelSMS
}

// Fallback is the channel a contact moves to when its number cannot
// receive texts; "" when none is set.
func (r *Reminders) Fallback() string { return r.fallback }

// TimeOf is the contact's own time of day from `time`; ok is false when
// the rule is absent or the record holds no valid time, and At applies.
func (r *Reminders) TimeOf(rec Record) (hour, minute int, ok bool) {
	if r.time == nil {
		return 0, 0, false
	}
	v, _ := r.time.eval(rec, nil)
	s, _ := stringForm(v)
	return ParseTimeOfDay(s)
}

// ParseTimeOfDay reads HH:MM or a Salesforce Time (HH:MM:SS.sssZ).
func ParseTimeOfDay(s string) (hour, minute int, ok bool) {
	m := timeOfDayRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return h, mi, true
}

// Email is the record's address for the email channel, "" when none.
func (r *Reminders) Email(rec Record) string {
	if r.email == nil {
		return ""
	}
	v, _ := r.email.eval(rec, nil)
	s, _ := stringForm(v)
	return strings.TrimSpace(s)
}

// EmailSubject is the subject in lang (falling back to en); "" without one.
func (r *Reminders) EmailSubject(lang string) string { return pickLang(r.emailSubject, lang) }

// VoiceGreeting is the spoken greeting in lang (falling back to en), with
// {{name}} filled; "" when the mapping has none.
func (r *Reminders) VoiceGreeting(lang, name string) string {
	return strings.NewReplacer("{{name}}", name, "{{link}}", "").Replace(pickLang(r.voice, lang))
}

// WhatsAppTemplate is the approved Content template for lang (es-MX falls
// back to es, never to another language); ok is false when there is none,
// and the reminder goes by SMS instead.
func (r *Reminders) WhatsAppTemplate(lang string) (contentSid string, ok bool) {
	lang = strings.ToLower(lang)
	if s, ok := r.whatsapp[lang]; ok {
		return s, true
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		s, ok := r.whatsapp[lang[:i]]
		return s, ok
	}
	return "", false
}
