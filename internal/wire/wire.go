// Package wire holds the HTTP and JSON plumbing shared by the kis and kiwoom
// packages: bounded body reads, body peeking that leaves the body intact,
// lenient JSON numbers, Retry-After parsing and redaction of secrets.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kauth/kauth"
)

// MaxBody is the largest response body read from a token endpoint. Every
// documented answer is well under 1 KiB.
const MaxBody = 1 << 20

// PeekSize is how much of a body Peek reads to recognise an error answer.
// The brokers' error answers are a few hundred bytes.
const PeekSize = 4 << 10

// DefaultTimeout bounds one request when the caller supplies no
// http.Client.
const DefaultTimeout = 30 * time.Second

// DefaultClient is used when a provider's HTTPClient is nil. Unlike
// http.DefaultClient it has a timeout.
var DefaultClient = &http.Client{Timeout: DefaultTimeout}

// ErrTooLarge reports a response body larger than MaxBody.
var ErrTooLarge = fmt.Errorf("response body larger than %d bytes", MaxBody)

// Client returns c, or DefaultClient if c is nil.
func Client(c *http.Client) *http.Client {
	if c == nil {
		return DefaultClient
	}
	return c
}

// NoRedirects returns a shallow copy of c (DefaultClient if c is nil) that
// follows no redirect: a 3xx comes back as the response. c itself is left
// as it is. Every request kauth sends to a broker carries the app key and
// secret, a token or an approval key, and Go's client would resend them
// (a 307 or 308 with the body, a 301, 302 or 303 with the headers) to
// whatever host the Location names, and take its answer for the broker's.
func NoRedirects(c *http.Client) *http.Client {
	nc := *Client(c)
	nc.CheckRedirect = useLastResponse
	return &nc
}

func useLastResponse(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Redirect returns the *kauth.RedirectError of resp if it is a redirect (an
// HTTP 3xx), and nil otherwise. It names the Location's host alone.
func Redirect(resp *http.Response) *kauth.RedirectError {
	if resp == nil || resp.StatusCode/100 != 3 {
		return nil
	}
	re := &kauth.RedirectError{StatusCode: resp.StatusCode}
	if u, err := resp.Location(); err == nil {
		re.Host = u.Host
	}
	return re
}

// BaseURL returns field, else the environment variable envVar, else def,
// without a trailing slash.
func BaseURL(field, envVar, def string) string {
	u := strings.TrimSpace(field)
	if u == "" {
		u = strings.TrimSpace(os.Getenv(envVar))
	}
	if u == "" {
		u = def
	}
	return strings.TrimRight(u, "/")
}

// EnvURL is BaseURL for a broker with one domain per environment: def is
// realURL for kauth.Real, mockURL for kauth.Mock and "" for any other env.
func EnvURL(field, envVar string, env kauth.Env, realURL, mockURL string) string {
	def := ""
	switch env {
	case kauth.Real:
		def = realURL
	case kauth.Mock:
		def = mockURL
	}
	return BaseURL(field, envVar, def)
}

// Now returns now(), or time.Now() if now is nil.
func Now(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// PostJSON is Post with v encoded as JSON for the body.
func PostJSON(ctx context.Context, client *http.Client, url string, header http.Header, v any) (*http.Response, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return Post(ctx, client, url, header, body)
}

// Post sends body to url with the given headers and returns the response
// with its body read whole (at most MaxBody bytes) and closed. It follows
// no redirect, whatever client's CheckRedirect says (see NoRedirects).
//
// The error is a transport error: the request could not be sent, no
// response arrived, the body could not be read, or the answer was a
// redirect (a *kauth.RedirectError, with resp the redirect). If ctx is
// done, the error matches ctx.Err() with errors.Is.
func Post(ctx context.Context, client *http.Client, url string, header http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := NoRedirects(client).Do(req)
	if err != nil {
		return nil, nil, withContext(ctx, err)
	}
	defer resp.Body.Close()
	if re := Redirect(resp); re != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, PeekSize))
		return resp, nil, re
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return resp, nil, withContext(ctx, fmt.Errorf("reading response body: %w", err))
	}
	if len(data) > MaxBody {
		return resp, nil, ErrTooLarge
	}
	return resp, data, nil
}

// withContext makes sure that err matches ctx.Err() when ctx is done, so
// that callers can tell their own deadline from the broker's slowness.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// Peek returns up to n bytes from the start of resp.Body and replaces
// resp.Body with a reader that yields the whole body again from its
// beginning; closing it closes the original body. Only the first n bytes
// are ever buffered, so a large body still streams.
func Peek(resp *http.Response, n int) []byte {
	if resp == nil || resp.Body == nil || resp.Body == http.NoBody || n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(resp.Body, buf)
	buf = buf[:got]
	var rest io.Reader = resp.Body
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		rest = eofReader{}
	default:
		// Hand the read error to whoever reads the body next.
		rest = errReader{err}
	}
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), closer: resp.Body}
	return buf
}

type peekedBody struct {
	io.Reader
	closer io.Closer
}

func (b *peekedBody) Close() error { return b.closer.Close() }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TopLevel scans the JSON object at the start of data, which may be cut
// short, and returns the string or number values of the wanted top-level
// keys that appear before the cut. It never fails: a value it cannot read
// ends the scan.
func TopLevel(data []byte, keys ...string) map[string]string {
	out := make(map[string]string, len(keys))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return out
	}
	for dec.More() && len(out) < len(keys) {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		for _, k := range keys {
			if k != key {
				continue
			}
			var v Number
			if json.Unmarshal(raw, &v) == nil {
				out[k] = string(v)
			}
		}
	}
	return out
}

// Number is a JSON value that the brokers send as a number or as a string
// ("return_code": 0 or "0"; KIS revokeP "code": 200 where "200" is
// documented). It holds the text of the value; null leaves it empty.
type Number string

// UnmarshalJSON implements json.Unmarshaler.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case string(b) == "null":
		*n = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = Number(strings.TrimSpace(s))
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var num json.Number
		if err := json.Unmarshal(b, &num); err != nil {
			return err
		}
		*n = Number(num)
		return nil
	}
	return fmt.Errorf("want a number or a string, got %.1q", b)
}

// Int returns n as an integer. A fractional number is truncated.
func (n Number) Int() (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != f || f > 1<<62 || f < -(1<<62) {
		return 0, false
	}
	return int64(f), true
}

// IsZero reports whether n is absent or numerically zero.
func (n Number) IsZero() bool {
	if n == "" {
		return true
	}
	i, ok := n.Int()
	return ok && i == 0
}

// TokenType returns "Bearer" for any spelling of it (Kiwoom sends
// "bearer"), and for none; other token types are kept as sent.
func TokenType(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "bearer") {
		return "Bearer"
	}
	return s
}

// Shape describes a body that is not a JSON object, for an error message
// that must not quote the body (it may echo a secret). It returns "" for a
// JSON object.
func Shape(body []byte, header http.Header) string {
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		return "empty body"
	case b[0] == '<' || strings.Contains(strings.ToLower(header.Get("Content-Type")), "html"):
		return "HTML page instead of JSON"
	case b[0] != '{':
		return "non-JSON body"
	case !json.Valid(b):
		return "malformed JSON"
	}
	return ""
}

// RetryAfter parses a Retry-After header given in seconds or as an HTTP
// date relative to now. It returns 0 if the header is absent or invalid.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 86400 {
			secs = 86400
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// Redact replaces every occurrence of each non-empty secret in s.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}

// Code returns s if it looks like a broker's code (letters, digits, '_' or
// '-', at most 24 bytes) and "" otherwise, so that a body that puts
// something else in a code field cannot smuggle it into an error.
func Code(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 24 {
		return ""
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return ""
		}
	}
	return s
}

// Message trims a broker's message for an error: it drops the given
// secrets and anything shaped like a key or token, and keeps it short.
func Message(s string, secrets ...string) string {
	s = strings.TrimSpace(RedactOpaque(Redact(s, secrets...)))
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// opaqueMin is the shortest run of key-like characters that RedactOpaque
// hides. App keys are 36 characters, app secrets 180, tokens hundreds; the
// brokers' own messages are short Korean sentences.
const opaqueMin = 32

// RedactOpaque replaces every run of at least 32 base64, base64url or JWT
// characters that mixes upper- and lower-case letters, so that a message
// echoing a key, a secret or a token that kauth does not know (one on
// another request) cannot carry it into an error.
func RedactOpaque(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		run := s[start:end]
		if len(run) >= opaqueMin && strings.ContainsAny(run, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(run, "abcdefghijklmnopqrstuvwxyz") {
			b.WriteString("<redacted>")
		} else {
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if opaqueChar(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
		b.WriteByte(s[i])
	}
	flush(len(s))
	return b.String()
}

func opaqueChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/=", c) >= 0
}

// MentionsAny reports whether b holds any of codes' keys, so that a check
// for a few error codes can skip parsing the many answers that name none.
func MentionsAny(b []byte, codes map[string]bool) bool {
	for c := range codes {
		if bytes.Contains(b, []byte(c)) {
			return true
		}
	}
	return false
}
