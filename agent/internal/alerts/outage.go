package alerts

import (
	"time"

	"github.com/kauth/kauth/realtime"
)

// Outage is the alert of an upstream real-time outage report of account
// name (whose app key has fingerprint app): WSUnavailable once it outlasted
// the threshold, WSRestored once the session is back.
func Outage(name, app string, o realtime.Outage) Alert {
	a := Alert{Kind: WSUnavailable, Time: o.At, Account: name, App: app}
	down := o.At.Sub(o.Since).Round(time.Second)
	if o.Restored {
		a.Kind, a.Reason = WSRestored, "the upstream WebSocket session is back after "+down.String()
		return a
	}
	a.Reason = "the upstream WebSocket session has been unavailable for " + down.String()
	if o.Err != nil {
		a.Reason += ": " + o.Err.Error() // realtime's errors name no key
	}
	return a
}
