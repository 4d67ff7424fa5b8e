package sfsim

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// OutboundRule is an Outbound Message action on a record-triggered flow
// ("A record is created", with optional entry conditions), or on a workflow
// rule evaluated on create. Salesforce: "Outbound messaging uses the
// notifications() call to send SOAP messages over HTTP(S) to a designated
// endpoint when triggered by a workflow rule"; record-triggered flows have
// the same "Outbound Message" action (Salesforce Help, "Outbound Message
// Considerations"). The stand-in fires only on inserts through the REST API
// (single create, upsert and Collections), never for AddRecord seed data.
type OutboundRule struct {
	Object string // e.g. Contact
	URL    string // the endpoint, with its ?token=
	// Fields the message carries ("The message contains the fields
	// specified when you created the outbound message"); Id always. Empty:
	// every field of the row.
	Fields []string
	// When is the entry condition; nil: every insert.
	When     func(rec map[string]any) bool
	ActionID string // default 04kRM0000000SIMxAU
}

// outbound delivers queued notifications as Salesforce does: "Messages are
// queued locally. A separate background process performs the actual
// sending"; "If a message cannot be delivered, the interval between retries
// increases exponentially" (API guide, "Understanding Notifications"). The
// stand-in's intervals are milliseconds, not up to two hours, and it gives
// up after OutboundWindow rather than 24 hours.
type outbound struct {
	mu        sync.Mutex
	rules     []OutboundRule
	pending   []pendingNote
	seq       int
	delivered int
	wg        sync.WaitGroup
	ctx       context.Context
	stop      context.CancelFunc
	client    *http.Client
}

// OutboundWindow is how long the stand-in retries one notification.
const OutboundWindow = 30 * time.Second

// SendOutboundOnInsert adds an Outbound Message rule; it applies to inserts
// from now on.
func (s *Server) SendOutboundOnInsert(rule OutboundRule) {
	s.om.mu.Lock()
	defer s.om.mu.Unlock()
	if rule.ActionID == "" {
		rule.ActionID = "04kRM0000000SIMxAU"
	}
	s.om.rules = append(s.om.rules, rule)
}

// OutboundDelivered counts notifications the endpoint acknowledged.
func (s *Server) OutboundDelivered() int {
	s.om.mu.Lock()
	defer s.om.mu.Unlock()
	return s.om.delivered
}

// Close stops the deliveries in flight, then the server.
func (s *Server) Close() {
	s.om.stop()
	s.om.wg.Wait()
	s.Server.Close()
}

// insertedLocked queues the notifications an insert triggers. The row is
// read again at send time: "if the source object changes after a
// notification is queued but before it's sent, the endpoint only receives
// the latest data".
func (s *Server) insertedLocked(o *object, id string) {
	s.om.mu.Lock()
	defer s.om.mu.Unlock()
	for _, r := range s.om.rules {
		if !strings.EqualFold(r.Object, o.name) {
			continue
		}
		if r.When != nil && !r.When(copyRow(o.row(id))) {
			continue
		}
		s.om.seq++
		s.om.pending = append(s.om.pending, pendingNote{r, o.name, id, fmt.Sprintf("04lRM%09dSIMx", s.om.seq)})
	}
}

type pendingNote struct {
	rule               OutboundRule
	object, id, noteID string
}

// flushOutboundLocked sends what the request's committed inserts
// triggered; a rolled-back request (allOrNone) clears them first.
func (s *Server) flushOutboundLocked() {
	s.om.mu.Lock()
	defer s.om.mu.Unlock()
	for _, p := range s.om.pending {
		s.om.wg.Add(1)
		go s.deliver(p.rule, p.object, p.id, p.noteID)
	}
	s.om.pending = nil
}

func (s *Server) rollbackOutboundLocked() {
	s.om.mu.Lock()
	defer s.om.mu.Unlock()
	s.om.pending = nil
}

func (s *Server) deliver(r OutboundRule, object, id, noteID string) {
	defer s.om.wg.Done()
	deadline := time.Now().Add(OutboundWindow)
	wait := 20 * time.Millisecond
	for {
		if s.postNotification(r, object, id, noteID) {
			s.om.mu.Lock()
			s.om.delivered++
			s.om.mu.Unlock()
			return
		}
		if time.Now().Add(wait).After(deadline) {
			return // dropped, as Salesforce drops a message after 24 hours
		}
		select {
		case <-s.om.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// postNotification sends one notification and reports an acknowledgement
// (HTTP 200 with <Ack>true</Ack>; anything else is retried).
func (s *Server) postNotification(r OutboundRule, object, id, noteID string) bool {
	rec := s.Record(object, id)
	body := outboundEnvelope(s.OrgID, r, object, noteID, rec)
	ctx, cancel := context.WithTimeout(s.om.ctx, 60*time.Second) // "The timeout for an outbound message is 60 seconds"
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := s.om.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode == http.StatusOK && bytes.Contains(ack, []byte("<Ack>true</Ack>"))
}

// outboundEnvelope renders the notifications() SOAP call. A deleted row
// gives a notification without sObject data, as Salesforce sends then.
func outboundEnvelope(org string, r OutboundRule, object, noteID string, rec map[string]any) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>` + org + `</OrganizationId>
   <ActionId>` + r.ActionID + `</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://sfsim.example/services/Soap/c/62.0</EnterpriseUrl>
   <PartnerUrl>https://sfsim.example/services/Soap/u/62.0</PartnerUrl>
   <Notification>
    <Id>` + noteID + `</Id>
`)
	if rec != nil {
		fmt.Fprintf(&b, "    <sObject xsi:type=\"sf:%s\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n", object)
		names := r.Fields
		if len(names) == 0 {
			for k := range rec {
				if k != "attributes" {
					names = append(names, k)
				}
			}
		}
		names = append([]string{"Id"}, names...)
		sort.Strings(names[1:])
		seen := map[string]bool{}
		for _, k := range names {
			v, ok := rec[k]
			if !ok || v == nil || seen[strings.ToLower(k)] || (k != "Id" && strings.EqualFold(k, "Id")) {
				continue // Salesforce leaves null fields out
			}
			seen[strings.ToLower(k)] = true
			fmt.Fprintf(&b, "     <sf:%s>", k)
			_ = xml.EscapeText(&b, []byte(soapValue(v)))
			fmt.Fprintf(&b, "</sf:%s>\n", k)
		}
		b.WriteString("    </sObject>\n")
	}
	b.WriteString("   </Notification>\n  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
	return b.String()
}

// soapValue writes numbers as SOAP does (2.0) and booleans as true/false.
func soapValue(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%.1f", x)
		}
		return fmt.Sprint(x)
	default:
		return fmt.Sprint(x)
	}
}
