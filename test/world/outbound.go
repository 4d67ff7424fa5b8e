package world

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cityhealth/bridge/test/sfsim"
)

// Notification is one record change for OutboundMessage. A nil field value
// is left out, as Salesforce leaves null fields out of the message. Deleted
// sends the notification with no sObject data, as Salesforce does when the
// record was deleted before delivery ("Considerations for Outbound
// Messages").
type Notification struct {
	ID      string
	Object  string // default Contact
	Fields  map[string]*string
	Deleted bool
}

// N is a number field as an Outbound Message carries it: SOAP renders every
// number as an xsd:double, so 2 is "2.0" (the REST API would say 2).
func N(v float64) *string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return &s
}

// S is a field value for Notification.Fields.
func S(v string) *string { return &v }

// OutboundMessage renders a SOAP Outbound Message as Salesforce sends it.
func OutboundMessage(org string, notes ...Notification) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>` + org + `</OrganizationId>
   <ActionId>04kRM0000000XyZYAU</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://cityhealth.my.salesforce.com/services/Soap/c/62.0/00DRM000000AbCD</EnterpriseUrl>
   <PartnerUrl>https://cityhealth.my.salesforce.com/services/Soap/u/62.0/00DRM000000AbCD</PartnerUrl>
`)
	for _, n := range notes {
		obj := n.Object
		if obj == "" {
			obj = "Contact"
		}
		if n.Deleted {
			fmt.Fprintf(&b, "   <Notification>\n    <Id>%s</Id>\n   </Notification>\n", n.ID)
			continue
		}
		fmt.Fprintf(&b, "   <Notification>\n    <Id>%s</Id>\n    <sObject xsi:type=\"sf:%s\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n", n.ID, obj)
		names := make([]string, 0, len(n.Fields))
		for k := range n.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if v := n.Fields[k]; v != nil {
				fmt.Fprintf(&b, "     <sf:%s>", k)
				_ = xml.EscapeText(&b, []byte(*v))
				fmt.Fprintf(&b, "</sf:%s>\n", k)
			}
		}
		b.WriteString("    </sObject>\n   </Notification>\n")
	}
	b.WriteString("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
	return b.String()
}

// NotificationID is the n-th 18-character Outbound Message notification id.
func NotificationID(n int) string { return fmt.Sprintf("04lRM%013d", n) }

// ContactID is the n-th 18-character Contact id, with its real checksum
// (the bridge keys records by the checksummed form and refuses others).
func ContactID(n int) string { return sfsim.To18(fmt.Sprintf("003RM%010d", n)) }
