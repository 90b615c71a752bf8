// Package realtime shares one broker WebSocket session per app key between
// many subscribers, the way kauth shares one token.
//
// Both brokers allow one real-time session per app key (KIS answers a second
// one OPSP8996 ALREADY IN USE; Kiwoom closes the older one with SYSTEM
// R10001) and a small number of registrations per session (KIS 41, then
// OPSP0008 MAX SUBSCRIBE OVER). A Session holds that one upstream
// connection; any number of Members (goroutines, or the agent's local
// clients) subscribe through it:
//
//	keys, _ := kis.NewApprovalManager(kis.New(), kauth.Config{Credentials: creds, Store: store})
//	sess, _ := realtime.New(realtime.Config{Credentials: creds, Keys: keys, Protocol: kis.Realtime{}})
//	defer sess.Close()
//	m := sess.Join(1024)
//	defer m.Close()
//	if _, err := m.Subscribe(ctx, realtime.Topic{ID: "H0STCNT0", Key: "005930"}); err != nil { … }
//	for msg := range m.Messages() { … msg.Raw is the broker's frame … }
//
// A Session opens its connection on the first Subscribe, with the managed
// credential (the KIS approval key or the Kiwoom access token), subscribes
// upstream once per topic however many members want it, unsubscribes when
// the last one leaves, answers the broker's keep-alives, and reconnects with
// jittered backoff and a fresh credential when the connection drops or goes
// silent for a few of the broker's keep-alive beats, restoring every live
// subscription and telling members (Interrupted, then Restored). While it
// cannot open a connection at all, members with topics hear why
// (Unavailable) and, once it opens, that it did (Available). A member
// that does not keep up (its buffer is full) is dropped alone: its Done
// closes and Err says ErrSlow. Subscribe and unsubscribe frames are paced
// (Config.ControlRate), and a topic dropped and taken again before its
// release went upstream costs the broker nothing. Where several processes
// share an app key, Config.Upstream routes each connection to the broker
// or to the one process that holds its session.
package realtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kauth/kauth"
)

// Topic names one real-time feed: for KIS the tr_id and tr_key
// (H0STCNT0, 005930), for Kiwoom the type and item (0B, 005930).
type Topic struct {
	ID  string
	Key string
}

func (t Topic) String() string { return t.ID + "|" + t.Key }

// Kind says what a Message is.
type Kind int

const (
	// Data is a frame of Topic, exactly as the broker sent it (for Kiwoom,
	// restricted to the member's entries when one frame carries several).
	Data Kind = iota
	// KeepAlive is the broker's keep-alive (KIS PINGPONG, Kiwoom PING);
	// the Session has already answered it upstream.
	KeepAlive
	// Interrupted says the upstream connection was lost; every topic of the
	// member is being restored.
	Interrupted
	// Restored says Topic is live again after an interruption; Raw is the
	// broker's subscribe answer.
	Restored
	// Lost says Topic could not be restored and is no longer subscribed;
	// Raw is the broker's answer.
	Lost
	// Unavailable says the Session cannot open (or reopen) its upstream
	// connection, and keeps trying; Err is why (the broker's HTTP status,
	// a refused dial, a rejected credential). A member hears it once per
	// outage, when the first attempt fails, and at once when it subscribes
	// to a topic during one (Topic is then that topic; otherwise Topic is
	// zero and the news concerns all the member's topics, Member.Topics).
	// Its subscriptions, pending ones included, stay wanted.
	Unavailable
	// Available follows Unavailable once the connection is open again:
	// the member's topics are being restored (Restored follows for each
	// that was live, and a pending Subscribe returns).
	Available
)

func (k Kind) String() string {
	switch k {
	case Data:
		return "data"
	case KeepAlive:
		return "keepalive"
	case Interrupted:
		return "interrupted"
	case Restored:
		return "restored"
	case Lost:
		return "lost"
	case Unavailable:
		return "unavailable"
	case Available:
		return "available"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Message is what a member receives. Raw is shared between members and
// must not be modified.
type Message struct {
	Kind  Kind
	Topic Topic
	Raw   []byte
	// Err is why the upstream connection is Unavailable.
	Err error
}

// Ack is the answer to a Subscribe.
type Ack struct {
	// Raw is the broker's answer to the upstream subscription (KIS: the JSON
	// with the AES key and iv of encrypted feeds), as it came for the first
	// member that asked; nil if the broker's answer names no topic (Kiwoom).
	Raw []byte
	// Already reports that this member had subscribed to the topic before.
	Already bool
}

// Error is a refusal by the broker, or by the Session on the broker's
// behalf (the subscription limit).
type Error struct {
	Broker  kauth.Broker
	Env     kauth.Env
	Topic   Topic
	Code    string // the broker's code: OPSP0008, OPSP0011, 8005…
	Message string // the broker's message
	// Raw is the broker's answer, if it sent one.
	Raw []byte
	// Local is set when the Session answered without asking the broker.
	Local bool

	limit    bool // the broker's subscription limit (Frame.Limit)
	rejected bool // the session credential was refused (Frame.Rejected)
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "realtime: %s %s", e.Broker, e.Env)
	if e.Topic != (Topic{}) {
		fmt.Fprintf(&b, " %s", e.Topic)
	}
	fmt.Fprintf(&b, ": %s %s", e.Code, e.Message)
	return b.String()
}

// Is makes errors.Is(err, ErrLimit) true for the subscription limit.
func (e *Error) Is(target error) bool {
	return target == ErrLimit && (e.limit || e.Local)
}

var (
	// ErrLimit is the broker's subscription limit (KIS OPSP0008 MAX
	// SUBSCRIBE OVER), reached upstream or counted by the Session.
	ErrLimit = errors.New("realtime: subscription limit reached")
	// ErrSlow ends a member whose buffer filled up: it did not read its
	// messages fast enough, and frames were dropped.
	ErrSlow = errors.New("realtime: member too slow; frames dropped")
	// ErrNotSubscribed is Unsubscribe's answer for a topic the member does
	// not hold.
	ErrNotSubscribed = errors.New("realtime: not subscribed")
	// ErrCanceled is Subscribe's answer when the member unsubscribed the
	// topic before the subscription went to the broker: nothing was sent.
	ErrCanceled = errors.New("realtime: unsubscribed before the subscription went upstream")
	// ErrClosed ends members when their Session or they themselves close.
	ErrClosed = errors.New("realtime: closed")
)
