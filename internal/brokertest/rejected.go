package brokertest

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"testing"
	"time"
)

// RejectedStreams checks that rejected, a provider's Rejected, reads only
// the start of a large successful answer to POST path: the server holds
// back the rest until rejected returns, and the caller then reads the whole
// body intact. start is the opening of a successful JSON answer whose last
// field is a string, which the random rest fills.
func RejectedStreams(t *testing.T, path, start string, rejected func(*http.Response) bool) {
	for _, length := range []string{"chunked", "content-length"} {
		t.Run(length, func(t *testing.T) {
			big := make([]byte, 2<<20)
			rand.Read(big)
			copy(big, start)
			peeked := make(chan struct{})
			srv := NewServer(t, map[string]http.HandlerFunc{
				"POST " + path: func(w http.ResponseWriter, r *http.Request) {
					if length == "content-length" {
						w.Header().Set("Content-Length", "2097152")
					}
					w.Write(big[:64<<10])
					w.(http.Flusher).Flush()
					select {
					case <-peeked:
					case <-time.After(10 * time.Second):
						t.Error("Rejected() did not return before the whole body was sent")
					}
					w.Write(big[64<<10:])
				},
			})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if rejected(resp) {
				t.Error("Rejected() = true; want false")
			}
			close(peeked)
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body after Rejected(): %v", err)
			}
			if !bytes.Equal(got, big) {
				t.Errorf("body after Rejected() has %d bytes; want the %d bytes sent, intact", len(got), len(big))
			}
		})
	}
}
