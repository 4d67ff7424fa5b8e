package e2e

import (
	"strings"

	"github.com/cityhealth/bridge/test/world"
)

// The Outbound Message builders live in test/world, shared with the
// load program; these names keep the tests short.
type Notification = world.Notification

// SampleOrgID is the org of the shared Outbound Message sample.
const SampleOrgID = world.OrgID

var (
	S               = world.S
	N               = world.N
	OutboundMessage = world.OutboundMessage
	NotificationID  = world.NotificationID
	ContactID       = world.ContactID
)

// MustOutbound posts an Outbound Message and fails unless it was acknowledged.
func (b *Bridge) MustOutbound(body string) { b.tb.Helper(); b.MustOutboundAt("", body) }

// MustOutboundAt is MustOutbound on a path with a query (?token=…).
func (b *Bridge) MustOutboundAt(path, body string) {
	b.tb.Helper()
	resp, out := b.PostOutbound(path, body)
	if resp.StatusCode != 200 || !strings.Contains(string(out), "<Ack>true</Ack>") {
		b.tb.Fatalf("want 200 Ack, got %d %s", resp.StatusCode, out)
	}
}
