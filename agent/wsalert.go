package agent

import (
	"time"

	"github.com/kauth/kauth/agent/internal/alerts"
	"github.com/kauth/kauth/realtime"
)

// outageAlert is the realtime.Config.OnOutage of the upstream session that
// acct opened: it logs the outage that outlasted alert_options'
// ws_unavailable_after, and its end, and sends their alerts. It never
// blocks.
func (a *Agent) outageAlert(acct *account) func(realtime.Outage) {
	name, app := acct.name, acct.creds.Fingerprint()
	return func(o realtime.Outage) {
		down := o.At.Sub(o.Since).Round(time.Second)
		if o.Restored {
			a.log.Info("agent: upstream WebSocket session back", "account", name, "down", down)
		} else {
			a.log.Warn("agent: upstream WebSocket session unavailable", "account", name, "down", down, "err", o.Err)
		}
		a.sendAlert(alerts.Outage(name, app, o))
	}
}
