package realtime

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/kauth/kauth"
)

// Protocol is one broker's real-time wire format, implemented by the
// broker's package (kis.Realtime, kiwoom.Realtime) and handed to a Session
// in Config.Protocol. The Session owns everything else: one connection per
// app key, the keep-alive echo, reconnection, pacing and fan-out.
// Implementations must be safe for concurrent use.
type Protocol interface {
	// URL returns the WebSocket URL at env for a REST base URL: the
	// published one for the broker's published domains and for "", and
	// for any other base (a proxy, the simulator) the same host with ws://
	// or wss://, where brokersim serves it.
	URL(env kauth.Env, restBase string) string
	// Login is the first message of a session opened with key, or nil if
	// the broker has none (its answer is a Frame of kind FrameLogin).
	Login(key string) []byte
	// Request is the message that subscribes (on) or unsubscribes t,
	// carrying key where the broker wants it.
	Request(t Topic, on bool, key string) []byte
	// Parse classifies a message from the broker. It must not panic on
	// any input.
	Parse(msg []byte) Frame
	// Answers reports whether f is the broker's answer to the
	// (un)subscription of t.
	Answers(f Frame, t Topic, on bool) bool
	// Limits returns the broker's subscription limit per session, and the
	// code and message of its refusal past a limit of n (which a Session
	// answers itself once it counts n).
	Limits(n int) (max int, code, msg string)
	// Published reports whether id is a real-time feed the broker
	// publishes: a subscription to any other id would take one of the
	// session's few slots for nothing.
	Published(id string) bool
}

// Pacer is implemented by a Protocol whose broker publishes how many
// subscribe and unsubscribe messages a second it accepts. A Session whose
// Config.ControlRate is zero sends at most ControlRate a second, or
// DefaultControlRate if its Protocol is no Pacer.
type Pacer interface {
	ControlRate() float64
}

// FrameKind says what a message from the broker is.
type FrameKind int

// The kinds of Frame.
const (
	FrameOther     FrameKind = iota // nothing the Session acts on
	FrameData                       // a data frame of Topic (or Entries)
	FrameKeepAlive                  // echoed back as is
	FrameAnswer                     // to a subscribe or unsubscribe
	FrameLogin                      // the answer to Login
	FrameSystem                     // a notice, logged
)

// Frame is a parsed message from the broker.
type Frame struct {
	Kind  FrameKind
	Topic Topic
	// ByID routes a data frame to every topic with Topic.ID (KIS encrypted
	// execution notices, whose key cannot be read).
	ByID bool
	// Entries are the topics of each entry of a frame that carries several
	// (Kiwoom REAL), and Raw their JSON: each member gets only its own.
	Entries []Topic
	Raw     []json.RawMessage

	Op        string // the request an answer is to, if the broker names it (Kiwoom REG, REMOVE)
	OK        bool   // the broker accepted
	Code, Msg string
	Rejected  bool // the session credential was refused: a new one may cure it
	InUse     bool // another session holds the app key: retry
	Limit     bool // the broker's subscription limit (errors.Is ErrLimit)
	// Ack says the answer itself is what members see of a subscription
	// (Ack.Raw; KIS's carries the key and iv of encrypted feeds).
	Ack bool
}

// ClientProtocol is a Protocol whose broker's own client side a gateway can
// speak to local clients over a shared Session: a bot connects as it would
// to the broker, and its requests become subscriptions of one Member.
type ClientProtocol interface {
	Protocol
	// NewClient returns the handler of one local client.
	NewClient(c ClientConfig) Client
}

// ClientConfig is what a Client works with.
type ClientConfig struct {
	// Member is the client's share of the Session.
	Member *Member
	// MaxSubscriptions is how many topics the client may hold.
	MaxSubscriptions int
	// Send writes a message to the client, for answers that come after
	// Handle has returned.
	Send func(ctx context.Context, msg []byte) error
}

// Client speaks the broker's protocol to one local client. Handle and
// Translate may be called from two goroutines at once.
type Client interface {
	// Handle serves one message from the client and returns the answers
	// to send now, in the broker's shapes. The client's credential (an
	// approval key, a token) is ignored: the Session uses the managed one.
	Handle(ctx context.Context, msg []byte) [][]byte
	// Translate turns a Session message into what the client sees.
	Translate(msg Message) [][]byte
	// Close waits for any work Handle left under way; ctx has ended.
	Close()
}

// Fits reports whether a client that holds held may hold add too, less
// replaced, without going past max topics.
func Fits(held map[Topic]bool, add, replaced []Topic, max int) bool {
	gone := map[Topic]bool{}
	for _, t := range replaced {
		if held[t] {
			gone[t] = true
		}
	}
	n := len(held) - len(gone)
	seen := map[Topic]bool{}
	for _, t := range add {
		if !seen[t] && (!held[t] || gone[t]) {
			n++
		}
		seen[t] = true
	}
	return n <= max
}

// Cause is the text of msg.Err, or a generic one if it has none.
func Cause(msg Message) string {
	if msg.Err == nil {
		return "realtime: upstream unavailable"
	}
	return msg.Err.Error()
}

// Short bounds a message shown to a local client (a cause that quotes its
// input) to one line of at most 200 bytes.
func Short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
