package brokersim

import (
	"time"

	"github.com/kauth/kauth"
)

// family is a kind of broker API that the simulator implements: the wire
// shapes, the codes and the endpoints that brokers of one family share.
type family string

const (
	familyKIS    family = "kis"
	familyKiwoom family = "kiwoom"
	familyIGW    family = "igw" // the IGW gateway of LS증권 and DB증권
	familyToss   family = "toss"
)

// simBroker is what the simulator reproduces of one broker: its family and
// the behaviour the broker documents or is seen to have.
type simBroker struct {
	name   kauth.Broker
	family family
	// reissue is how the broker answers an issuance while its last token
	// is valid; the simulator starts in this mode (SetReissue changes it).
	reissue ReissueMode
	// issueLimit is the broker's own least spacing of issuances per app
	// key; 0 for none published. (The kis family enforces KIS's limit
	// itself, see Server.KISIssueInterval.)
	issueLimit time.Duration
	// expiry returns when a token issued at t ends, as the broker
	// documents it.
	expiry func(t time.Time) time.Time
	// call is the igw family's protected call: a price quote at this path,
	// POST, with these headers required besides the token.
	call        string
	callHeaders []string
	// callsPerSecond is the igw family's published call limit per app key.
	callsPerSecond int
	// outBlock names the block of the igw call's answer (LS:
	// "t1102OutBlock"); its request block is the same name with InBlock.
	// Empty means "OutBlock".
	outBlock string
}

// simBrokers lists the brokers the simulator serves, in display order.
// The simulator knows them by name alone: it links no broker package.
var simBrokers = []simBroker{
	{
		name:   kauth.KIS,
		family: familyKIS,
		// The same token within 6 h of the last issuance.
		reissue:    ReissueSame,
		issueLimit: time.Minute,
		// 접근토큰발급(P) /oauth2/tokenP: "접근토큰(access_token)의
		// 유효기간은 24시간" (expires_in 86400).
		expiry: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	},
	{
		name:   kauth.Kiwoom,
		family: familyKiwoom,
		// The same token while it is valid.
		reissue: ReissueSame,
		// "유효기간: 24시간" (Kiwoom 접근토큰 발급 au10001).
		expiry: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
	},
	{
		name:   "ls",
		family: familyIGW,
		// Two programs sharing an app key invalidate each other's token by
		// issuing ("KR/US 가 같은 appkey 를 공유하면 한쪽 재발급이 다른
		// 쪽을 무효화한다", an LS client's notes).
		reissue: ReissueNewRevokeOld,
		expiry:  lsExpiry,
		// 주식현재가(시세)조회 t1102: POST /stock/market-data with headers
		// tr_cd, tr_cont, tr_cont_key (LS REST[주식] 시세).
		call:        "/stock/market-data",
		callHeaders: []string{"tr_cd", "tr_cont", "tr_cont_key"},
		// LS limits each TR per second: t1102 3 TPS.
		callsPerSecond: 3,
		// 응답 Body: t1102OutBlock (요청 Body: t1102InBlock).
		outBlock: "t1102OutBlock",
	},
	{
		name:   "db",
		family: familyIGW,
		// DB publishes nothing on re-issues; its gateway is LS's, whose
		// re-issue invalidates the previous token: the simulator assumes so.
		reissue: ReissueNewRevokeOld,
		// One issuance a minute per app key (IGW00201 past it, as DB users
		// report: "토큰 발급이 403(IGW00201 호출 거래건수 초과)으로 막힌
		// 상태").
		issueLimit: time.Minute,
		// expires_in as DB's clients read it: 24 h (teranum/python-packages
		// OpenApi.py keeps response_data['expires_in']).
		expiry: func(t time.Time) time.Time { return t.Add(24 * time.Hour) },
		// 현재가조회 PRICE: POST /api/v1/quote/kr-stock/inquiry/price with
		// cont_yn and cont_key (tr_code_to_path.py "PRICE").
		call:        "/api/v1/quote/kr-stock/inquiry/price",
		callHeaders: []string{"cont_yn", "cont_key"},
		// 현재가조회 PRICE: 5 TPS.
		callsPerSecond: 5,
	},
	tossFamily,
}

// tossFamily is 토스증권 (toss.go, toss_ws.go). It has no mock environment.
var tossFamily = simBroker{
	name:   tossBroker,
	family: familyToss,
	// "client 당 유효한 access token 은 1 개입니다. 재발급 시 이전에 발급된
	// token 은 즉시 무효화됩니다." (OpenAPI document,
	// paths./oauth2/token.post.description).
	reissue: ReissueNewRevokeOld,
	// expires_in 86400 (components.schemas.OAuth2TokenResponse).
	expiry: func(t time.Time) time.Time { return t.Add(tossTokenLifetime) },
}

// lsExpiry returns when an LS token issued at t ends: 07:00 KST the next
// day ("발급일 익일 07시까지 유효", as LS clients record it; an issuance
// seen to last expires_in≈40867 s confirms a fixed morning expiry rather
// than 24 h).
func lsExpiry(t time.Time) time.Time {
	k := t.In(kauth.KST)
	return time.Date(k.Year(), k.Month(), k.Day()+1, 7, 0, 0, 0, kauth.KST)
}

// lookup returns what the simulator knows of b.
func lookup(b kauth.Broker) (simBroker, bool) {
	for _, sb := range simBrokers {
		if sb.name == b {
			return sb, true
		}
	}
	return simBroker{}, false
}

// igwBroker returns b's entry if the igw family serves it.
func igwBroker(b kauth.Broker) (simBroker, bool) {
	sb, ok := lookup(b)
	return sb, ok && sb.family == familyIGW
}

// Brokers returns the names of the brokers the simulator serves, in
// display order.
func Brokers() []kauth.Broker {
	out := make([]kauth.Broker, len(simBrokers))
	for i, sb := range simBrokers {
		out[i] = sb.name
	}
	return out
}

func brokerNames() []string {
	var out []string
	for _, sb := range simBrokers {
		out = append(out, string(sb.name))
	}
	return out
}
