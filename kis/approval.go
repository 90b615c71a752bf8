package kis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/wire"
)

// ApprovalKey asks KIS for a WebSocket approval key (POST /oauth2/Approval).
// The request carries the app secret in a field named secretkey.
func (p *Provider) ApprovalKey(ctx context.Context, c kauth.Credentials) (string, error) {
	if err := check(c, OpApproval); err != nil {
		return "", err
	}
	resp, data, err := wire.PostJSON(ctx, p.HTTPClient, p.URL(c.Env)+"/oauth2/Approval", jsonHeader(), map[string]string{
		"grant_type": "client_credentials",
		"appkey":     c.AppKey,
		"secretkey":  c.AppSecret,
	})
	if err != nil {
		return "", transportError(c, OpApproval, resp, err)
	}
	if err := checkResponse(c, OpApproval, resp, data, p.now()); err != nil {
		return "", err
	}
	var ar struct {
		ApprovalKey string `json:"approval_key"`
	}
	if err := json.Unmarshal(data, &ar); err != nil {
		return "", malformed(c, OpApproval, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if ar.ApprovalKey == "" {
		return "", malformed(c, OpApproval, resp, errors.New("answer has no approval_key"))
	}
	if err := kauth.CheckToken(ar.ApprovalKey); err != nil {
		// The key goes into the first frame of every WebSocket session
		// and into the agent's answers: never one that cannot be a key.
		return "", &kauth.Error{Broker: kauth.KIS, Env: c.Env, Op: OpApproval, Kind: kauth.ErrMalformedToken, StatusCode: resp.StatusCode, Err: err}
	}
	return ar.ApprovalKey, nil
}

// HashKey asks KIS for the hash of an order body (POST /uapi/hashkey), sent
// as the hashkey header of the order. body is the JSON the order will send;
// the request authenticates with the appkey and appsecret headers.
func (p *Provider) HashKey(ctx context.Context, c kauth.Credentials, body []byte) (string, error) {
	if err := check(c, OpHashKey); err != nil {
		return "", err
	}
	if !json.Valid(body) {
		return "", &kauth.Error{Broker: kauth.KIS, Env: c.Env, Op: OpHashKey, Kind: kauth.ErrBadRequest, Message: "body is not valid JSON"}
	}
	h := jsonHeader()
	h.Set("Appkey", c.AppKey)
	h.Set("Appsecret", c.AppSecret)
	resp, data, err := wire.Post(ctx, p.HTTPClient, p.URL(c.Env)+"/uapi/hashkey", h, body)
	if err != nil {
		return "", transportError(c, OpHashKey, resp, err)
	}
	if err := checkResponse(c, OpHashKey, resp, data, p.now()); err != nil {
		return "", err
	}
	var hr struct {
		Hash string `json:"HASH"`
	}
	if err := json.Unmarshal(data, &hr); err != nil {
		return "", malformed(c, OpHashKey, resp, fmt.Errorf("unexpected JSON: %w", err))
	}
	if hr.Hash == "" {
		return "", malformed(c, OpHashKey, resp, errors.New("answer has no HASH"))
	}
	return hr.Hash, nil
}
