package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	twclient "github.com/twilio/twilio-go/client"
)

// FlexIdentity is what IAM vouches for about a Flex user token.
type FlexIdentity struct {
	Identity, WorkerSID string
	Roles               []string
	Expiration          time.Time // zero when IAM gave none: do not cache
}

// iamBaseURL is IAM's origin for the account's region: iam.twilio.com in
// us1, iam.{region}.twilio.com elsewhere (as twilio-flex-token-validator
// builds it from TWILIO_REGION).
func iamBaseURL(region string) string {
	if region == "" || region == "us1" {
		return "https://iam.twilio.com"
	}
	return "https://iam." + region + ".twilio.com"
}

type validateAnswer struct {
	Valid      bool     `json:"valid"`
	Code       int      `json:"code"`
	Message    *string  `json:"message"`
	Expiration string   `json:"expiration"`
	Identity   string   `json:"identity"`
	Roles      []string `json:"roles"`
	WorkerSID  string   `json:"worker_sid"`
}

// ValidateFlexToken asks IAM, as twilio-flex-token-validator does, whether
// a Flex UI token is valid. The token is JWE, never parsed here. A rejected
// token gives an error matching ErrFlexTokenInvalid; IAM being unreachable
// gives another error, which the queue retries.
func (c *Client) ValidateFlexToken(ctx context.Context, token string) (FlexIdentity, error) {
	if token == "" {
		return FlexIdentity{}, &FlexTokenError{Code: CodeTokenInvalid, Message: "empty token"}
	}
	body, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		return FlexIdentity{}, fmt.Errorf("validate flex token: %w", err)
	}
	var ans validateAnswer
	err = c.do(ctx, "validate_flex_token", "", func(rh *twclient.RequestHandler) error {
		u := iamBaseURL(c.cfg.Region) + "/v1/Accounts/" + c.cfg.AccountSID + "/Tokens/validate"
		headers := map[string]any{"Content-Type": "application/json", "Cache-Control": "no-cache"}
		resp, err := rh.Post(u, nil, headers, "", body...)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&ans)
	})
	if err != nil {
		return FlexIdentity{}, fmt.Errorf("validate flex token: %w", err)
	}
	if !ans.Valid {
		fe := &FlexTokenError{Code: ans.Code}
		if ans.Message != nil {
			fe.Message = *ans.Message
		}
		return FlexIdentity{}, fe
	}
	id := FlexIdentity{Identity: ans.Identity, WorkerSID: ans.WorkerSID, Roles: ans.Roles}
	if ans.Expiration != "" {
		if exp, err := time.Parse(time.RFC3339Nano, ans.Expiration); err == nil {
			id.Expiration = exp
		}
	}
	if id.Identity == "" {
		return FlexIdentity{}, errors.New("validate flex token: IAM answered valid without identity")
	}
	return id, nil
}
