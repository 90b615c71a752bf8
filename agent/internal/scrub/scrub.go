// Package scrub masks secrets in a response body as it streams through.
package scrub

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// body masks every occurrence of its secrets in a response body as the
// body streams through, including one split across two reads: each is
// overwritten with as many '*', so the body keeps its length and its
// Content-Length stays right, and a JSON string stays a JSON string. At most
// the longest secret's length less one byte is held back at a time: what
// may begin a secret that the next read completes.
type body struct {
	rc      io.ReadCloser
	secrets [][]byte // non-empty
	hold    int      // the longest secret's length - 1
	buf     []byte   // read and masked; buf[off:ready] may go out
	off     int
	ready   int
	err     error  // the body's read error, io.EOF at its end
	onMask  func() // called after the first secret is masked
	masked  bool
	pooled  *[]byte // s.buf's pool entry, given back by Close
}

// NewBody returns rc with secrets masked, or rc itself if no secret
// is set.
func NewBody(rc io.ReadCloser, secrets []string, onMask func()) io.ReadCloser {
	s := &body{rc: rc, onMask: onMask}
	for _, sec := range secrets {
		if sec != "" {
			s.secrets = append(s.secrets, []byte(sec))
			s.hold = max(s.hold, len(sec)-1)
		}
	}
	if len(s.secrets) == 0 {
		return rc
	}
	return s
}

// scrubChunk is how much body reads from the body at a time.
const scrubChunk = 32 << 10

// scrubBufs keeps the buffers of finished bodies: every proxied answer
// passes through a body, and a new buffer each would be most of what
// a proxied call allocates.
var scrubBufs = sync.Pool{New: func() any { return new([]byte) }}

func (s *body) Read(p []byte) (int, error) {
	for s.off == s.ready {
		if s.err != nil {
			return 0, s.err
		}
		s.fill()
	}
	n := copy(p, s.buf[s.off:s.ready])
	s.off += n
	return n, nil
}

// fill reads once from the body, masks what it can, and makes ready all
// that no later read can complete a secret in (everything, at the end).
func (s *body) fill() {
	if s.buf == nil {
		s.pooled = scrubBufs.Get().(*[]byte)
		if cap(*s.pooled) < s.hold+scrubChunk {
			*s.pooled = make([]byte, 0, s.hold+scrubChunk)
		}
		s.buf = (*s.pooled)[:0]
	}
	// Keep only what is not yet sent: the bytes held back, at most s.hold
	// (fill runs once all that was ready is sent), so that a chunk fits.
	rest := copy(s.buf, s.buf[s.off:])
	s.buf, s.ready, s.off = s.buf[:rest], s.ready-s.off, 0
	n, err := s.rc.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	// A secret that began before s.ready would have been seen whole by an
	// earlier fill: it is at most s.hold+1 bytes, and s.hold bytes were
	// held back.
	s.mask(s.buf[s.ready:])
	if err != nil {
		s.err = err
		s.ready = len(s.buf)
		return
	}
	s.ready = max(s.ready, len(s.buf)-s.hold)
}

func (s *body) mask(b []byte) {
	for _, sec := range s.secrets {
		// Look for the secret's first bytes, then check the rest: a short
		// pattern is searched many times faster than a long one (a KIS
		// appsecret has 180 bytes).
		head := sec[:min(len(sec), 16)]
		for i := 0; ; {
			j := bytes.Index(b[i:], head)
			if j < 0 {
				break
			}
			i += j
			if !bytes.HasPrefix(b[i:], sec) {
				i++
				continue
			}
			for k := range sec {
				b[i+k] = '*'
			}
			i += len(sec)
			if !s.masked {
				s.masked = true
				if s.onMask != nil {
					s.onMask()
				}
			}
		}
	}
}

// Close closes the body and gives the buffer back; Read must not be called
// after it.
func (s *body) Close() error {
	if s.pooled != nil {
		scrubBufs.Put(s.pooled)
		s.pooled, s.buf, s.off, s.ready = nil, nil, 0, 0
		if s.err == nil {
			s.err = errClosedBody
		}
	}
	return s.rc.Close()
}

var errClosedBody = errors.New("scrub: read on a closed body")
