package webhooks

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Namespaces of a Salesforce Outbound Message.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsOutbound = "http://soap.sforce.com/2005/09/outbound"
	nsXSI      = "http://www.w3.org/2001/XMLSchema-instance"
)

// MaxNotifications is Salesforce's own bound for one message.
const MaxNotifications = 100

// OutboundMessage is the part of a Salesforce Outbound Message the bridge uses.
type OutboundMessage struct {
	OrganizationID string
	ActionID       string
	Notifications  []Notification
}

// Notification is one record change. Fields holds strings, or nil for xsi:nil.
// Deleted marks a notification that carries no sObject data: Salesforce sends
// those when the record was deleted before delivery ("Considerations for
// Outbound Messages"); it is acknowledged and not processed.
type Notification struct {
	ID      string
	Object  string
	Fields  map[string]any
	Deleted bool
}

var (
	reSalesforceID = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)
	reIdentifier   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)
)

// ErrMalformed wraps every reason a body is not a usable Outbound Message.
var ErrMalformed = errors.New("malformed outbound message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

type envelopeXML struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Notifications *notificationsXML `xml:"http://soap.sforce.com/2005/09/outbound notifications"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type notificationsXML struct {
	OrganizationID string            `xml:"http://soap.sforce.com/2005/09/outbound OrganizationId"`
	ActionID       string            `xml:"http://soap.sforce.com/2005/09/outbound ActionId"`
	Notifications  []notificationXML `xml:"http://soap.sforce.com/2005/09/outbound Notification"`
}

type notificationXML struct {
	ID      string      `xml:"http://soap.sforce.com/2005/09/outbound Id"`
	SObject *sObjectXML `xml:"http://soap.sforce.com/2005/09/outbound sObject"`
}

// sObjectXML takes any sObject type: its fields are whatever child elements
// it has, in the sObject namespace the message declares.
type sObjectXML struct {
	Type   string
	Fields map[string]any
}

func (s *sObjectXML) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Space == nsXSI && a.Name.Local == "type" {
			s.Type = a.Value[strings.LastIndexByte(a.Value, ':')+1:]
		}
	}
	s.Fields = map[string]any{}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			value, err := readField(d, t)
			if err != nil {
				return err
			}
			s.Fields[t.Name.Local] = value
		case xml.EndElement:
			return nil
		}
	}
}

// readField reads a leaf element; nested elements are refused because an
// Outbound Message carries only the object's own scalar fields.
func readField(d *xml.Decoder, start xml.StartElement) (any, error) {
	isNil := false
	for _, a := range start.Attr {
		if a.Name.Space == nsXSI && a.Name.Local == "nil" && (a.Value == "true" || a.Value == "1") {
			isNil = true
		}
	}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.StartElement:
			return nil, malformed("field %s has nested elements", start.Name.Local)
		case xml.EndElement:
			if isNil {
				return nil, nil
			}
			return text.String(), nil
		}
	}
}

// ParseOutbound reads a SOAP Outbound Message. It refuses anything that is not
// one: wrong envelope, no notifications, more than MaxNotifications, ids or
// object names of the wrong shape, or a notification whose record has fields
// but no Id. A notification with no record data at all is Deleted.
func ParseOutbound(r io.Reader) (*OutboundMessage, error) {
	dec := xml.NewDecoder(r)
	// Only the five predefined entities exist; no DTD can add more.
	dec.Strict = true
	var env envelopeXML
	if err := dec.Decode(&env); err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		return nil, malformed("not a SOAP envelope")
	}
	n := env.Body.Notifications
	if n == nil {
		return nil, malformed("no notifications element in %s", nsOutbound)
	}
	msg := &OutboundMessage{OrganizationID: strings.TrimSpace(n.OrganizationID), ActionID: strings.TrimSpace(n.ActionID)}
	if msg.OrganizationID == "" {
		return nil, malformed("OrganizationId is missing")
	}
	if len(n.Notifications) == 0 {
		return nil, malformed("no Notification")
	}
	if len(n.Notifications) > MaxNotifications {
		return nil, malformed("%d notifications, at most %d allowed", len(n.Notifications), MaxNotifications)
	}
	for i, x := range n.Notifications {
		id := strings.TrimSpace(x.ID)
		if !reSalesforceID.MatchString(id) {
			return nil, malformed("Notification[%d].Id is not a Salesforce id", i)
		}
		// "If the record is deleted before the notification is delivered, the
		// notification contains no data" (Salesforce, Considerations for
		// Outbound Messages): no sObject, or one without a single field.
		if x.SObject == nil || len(x.SObject.Fields) == 0 {
			n := Notification{ID: id, Deleted: true}
			if x.SObject != nil && reIdentifier.MatchString(x.SObject.Type) {
				n.Object = x.SObject.Type
			}
			msg.Notifications = append(msg.Notifications, n)
			continue
		}
		if !reIdentifier.MatchString(x.SObject.Type) {
			return nil, malformed("Notification[%d].sObject has no valid xsi:type", i)
		}
		recID, _ := x.SObject.Fields["Id"].(string)
		if !reSalesforceID.MatchString(recID) {
			return nil, malformed("Notification[%d].sObject.Id is not a Salesforce id", i)
		}
		for name := range x.SObject.Fields {
			if !reIdentifier.MatchString(name) {
				return nil, malformed("Notification[%d].sObject has a field with an invalid name", i)
			}
		}
		msg.Notifications = append(msg.Notifications, Notification{ID: id, Object: x.SObject.Type, Fields: x.SObject.Fields})
	}
	return msg, nil
}

// SameOrg compares org ids in their 15- or 18-character forms: the first 15
// characters are the case-sensitive id, the last 3 only a checksum of them.
func SameOrg(configured, got string) bool {
	if len(configured) < 15 || len(got) < 15 {
		return false
	}
	if configured[:15] != got[:15] {
		return false
	}
	if len(configured) == 18 && len(got) == 18 {
		return strings.EqualFold(configured[15:], got[15:])
	}
	return len(got) == 15 || len(got) == 18
}

const ackEnvelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
`

// soapFault renders a fault; the message is ours, never the caller's input.
func soapFault(code, message string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <soapenv:Fault>
   <faultcode>soapenv:`)
	b.WriteString(code)
	b.WriteString("</faultcode>\n   <faultstring>")
	xml.EscapeText(&b, []byte(message))
	b.WriteString("</faultstring>\n  </soapenv:Fault>\n </soapenv:Body>\n</soapenv:Envelope>\n")
	return b.String()
}
