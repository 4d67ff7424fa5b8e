package webhooks

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseOutboundSample(t *testing.T) {
	msg, err := ParseOutbound(bytes.NewReader(mustRead(t, "testdata/salesforce-outbound-message.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if msg.OrganizationID != "00DRM000000AbCD2AY" || len(msg.Notifications) != 2 {
		t.Fatalf("got org %q and %d notifications", msg.OrganizationID, len(msg.Notifications))
	}
	first := msg.Notifications[0]
	if first.ID != "04lRM00000ABCdeYAF" || first.Object != "Contact" || first.Fields["Id"] != "003RM00000Qx1a2YAB" ||
		first.Fields["MobilePhone"] != "(212) 555-0123" || first.Fields["Priority__c"] != "2.0" {
		t.Fatalf("first notification wrong: %+v", first)
	}
	// Salesforce leaves a null field out of the message.
	second := msg.Notifications[1]
	if _, ok := second.Fields["MobilePhone"]; ok || second.Deleted {
		t.Fatalf("null field must be absent: %+v", second)
	}
	// An xsi:nil field, should one come, is a present nil.
	withNil := strings.Replace(string(mustRead(t, "testdata/salesforce-outbound-message.xml")),
		"<sf:FirstName>Sam</sf:FirstName>", `<sf:FirstName xsi:nil="true"/>`, 1)
	msg, err = ParseOutbound(strings.NewReader(withNil))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := msg.Notifications[1].Fields["FirstName"]; !ok || v != nil {
		t.Fatalf("xsi:nil must be a present nil, got %v %v", v, ok)
	}
}

// A record deleted before delivery comes as a notification without data
// (Salesforce, Considerations for Outbound Messages): it parses as Deleted
// and the others in the message are read as usual.
func TestParseOutboundDeletedRecord(t *testing.T) {
	sample := string(mustRead(t, "testdata/salesforce-outbound-message.xml"))
	start := strings.Index(sample, "<sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n     <sf:Id>003RM00000Qx1a3YAB")
	end := strings.LastIndex(sample, "</sObject>") + len("</sObject>")
	if start < 0 || end < start {
		t.Fatal("sample changed")
	}
	forms := map[string]string{
		"no sObject":    sample[:start] + sample[end:],
		"empty sObject": sample[:start] + `<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"/>` + sample[end:],
	}
	for name, body := range forms {
		t.Run(name, func(t *testing.T) {
			msg, err := ParseOutbound(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Notifications) != 2 || msg.Notifications[0].Deleted || msg.Notifications[0].Fields["Id"] != "003RM00000Qx1a2YAB" {
				t.Fatalf("live notification wrong: %+v", msg.Notifications)
			}
			if d := msg.Notifications[1]; !d.Deleted || d.ID != "04lRM00000ABCdfYAF" || d.Fields != nil {
				t.Fatalf("deleted notification wrong: %+v", d)
			}
		})
	}
}

func TestParseOutboundAnyObject(t *testing.T) {
	msg, err := ParseOutbound(bytes.NewReader(mustRead(t, "testdata/salesforce-outbound-message-capture.xml")))
	if err != nil {
		t.Fatal(err)
	}
	n := msg.Notifications[0]
	if n.Object != "Design_Registration__c" || n.Fields["DR_Number__c"] != "R080500453" {
		t.Fatalf("custom object not read: %+v", n)
	}
}

func TestParseOutboundRefuses(t *testing.T) {
	sample := string(mustRead(t, "testdata/salesforce-outbound-message.xml"))
	many := strings.Replace(sample, "<Notification>", strings.Repeat(
		"<Notification><Id>04lRM00000ABCdeYAF</Id><sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>003RM00000Qx1a2YAB</sf:Id></sObject></Notification>", 100)+"<Notification>", 1)
	cases := map[string]string{
		"empty":           "",
		"not xml":         "hello",
		"json":            `{"a":1}`,
		"wrong namespace": strings.ReplaceAll(sample, "http://soap.sforce.com/2005/09/outbound", "urn:other"),
		"no notification": strings.Split(sample, "<Notification>")[0] + "</notifications></soapenv:Body></soapenv:Envelope>",
		"bad id":          strings.Replace(sample, "04lRM00000ABCdeYAF", "04l'; DROP", 1),
		"bad record id":   strings.Replace(sample, "003RM00000Qx1a2YAB", "003<x>", 1),
		"fields, no Id":   strings.Replace(sample, "<sf:Id>003RM00000Qx1a2YAB</sf:Id>", "", 1),
		"no type":         strings.Replace(sample, `xsi:type="sf:Contact"`, "", 1),
		"nested field":    strings.Replace(sample, "<sf:FirstName>Alex</sf:FirstName>", "<sf:FirstName><b>Alex</b></sf:FirstName>", 1),
		"entity":          strings.Replace(sample, "Alex", "&xxe;", 1),
		"too many":        many,
		"truncated":       sample[:len(sample)/2],
		"no org":          strings.Replace(sample, "<OrganizationId>00DRM000000AbCD2AY</OrganizationId>", "", 1),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseOutbound(strings.NewReader(body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
			if strings.Contains(err.Error(), "Alex") {
				t.Fatalf("error echoes record data: %v", err)
			}
		})
	}
}

func TestSameOrg(t *testing.T) {
	cases := []struct {
		configured, got string
		want            bool
	}{
		{"00DRM000000AbCD2AY", "00DRM000000AbCD2AY", true},
		{"00DRM000000AbCD", "00DRM000000AbCD2AY", true},
		{"00DRM000000AbCD2AY", "00DRM000000AbCD", true},
		{"00DRM000000AbCD", "00DRM000000ABCD2AY", false}, // 15-char ids are case-sensitive
		{"00DRM000000AbCD2AY", "00DRM000000AbCE2AY", false},
		{"00DRM000000AbCD2AY", "00DR......", false},
		{"00DRM000000AbCD2AY", "", false},
	}
	for _, tc := range cases {
		if got := SameOrg(tc.configured, tc.got); got != tc.want {
			t.Errorf("SameOrg(%q, %q) = %v", tc.configured, tc.got, got)
		}
	}
}

func FuzzParseOutbound(f *testing.F) {
	for _, p := range []string{"testdata/salesforce-outbound-message.xml", "testdata/salesforce-outbound-message-capture.xml", "testdata/salesforce-outbound-ack.xml"} {
		f.Add(mustRead(f, p))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := ParseOutbound(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if len(msg.Notifications) == 0 || len(msg.Notifications) > MaxNotifications {
			t.Fatalf("accepted %d notifications", len(msg.Notifications))
		}
		for _, n := range msg.Notifications {
			if n.Deleted {
				if !reSalesforceID.MatchString(n.ID) || n.Fields != nil {
					t.Fatalf("accepted a bad deleted notification: %+v", n)
				}
				continue
			}
			if !reSalesforceID.MatchString(n.ID) || !reIdentifier.MatchString(n.Object) {
				t.Fatalf("accepted bad ids: %q %q", n.ID, n.Object)
			}
		}
	})
}
