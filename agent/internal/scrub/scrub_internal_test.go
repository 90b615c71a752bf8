package scrub

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScrubBodyAcrossReads: every occurrence of a secret is masked however
// the body is cut into reads (one byte at a time, data with the final
// error, small buffers at the reader's side), the length is kept, and the
// body's own error comes through after its last byte.
func TestScrubBodyAcrossReads(t *testing.T) {
	key, secret := "PSkey0123456789", "secret/ABC+def=="
	body := secret + `{"a":"` + key + `x` + secret + secret + `","b":"` + strings.Repeat("y", 70000) + secret + `"}` + key
	want := strings.NewReplacer(secret, strings.Repeat("*", len(secret)), key, strings.Repeat("*", len(key))).Replace(body)
	cuts := map[string]func(io.Reader) io.Reader{
		"whole":      func(r io.Reader) io.Reader { return r },
		"one byte":   iotest.OneByteReader,
		"half":       iotest.HalfReader,
		"data+error": iotest.DataErrReader,
	}
	for name, cut := range cuts {
		for _, size := range []int{1, 7, 512, 64 << 10} {
			masked := 0
			rc := NewBody(io.NopCloser(cut(strings.NewReader(body))), []string{"", secret, key}, func() { masked++ })
			var got strings.Builder
			buf := make([]byte, size)
			for {
				n, err := rc.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s/%d: Read() = %v", name, size, err)
				}
			}
			if got.String() != want {
				t.Errorf("%s/%d: scrubbed body differs (len %d, want %d); secret left: %v", name, size,
					got.Len(), len(want), strings.Contains(got.String(), secret) || strings.Contains(got.String(), key))
			}
			if masked != 1 {
				t.Errorf("%s/%d: onMask called %d times; want once", name, size, masked)
			}
		}
	}

	// A read error other than EOF reaches the caller after the bytes
	// before it, none of which shows a secret.
	boom := errors.New("boom")
	rc := NewBody(io.NopCloser(io.MultiReader(strings.NewReader("ok "+secret[:5]), iotest.ErrReader(boom))), []string{secret}, nil)
	got, err := io.ReadAll(rc)
	if !errors.Is(err, boom) || string(got) != "ok "+secret[:5] {
		t.Errorf("ReadAll() = %q, %v; want the bytes before the error, then it", got, err)
	}

	// Without a secret the body is passed as it is.
	plain := io.NopCloser(strings.NewReader("x"))
	if NewBody(plain, []string{""}, nil) != plain {
		t.Error("NewBody without secrets wrapped the body")
	}
}

// chunked yields its body at most n bytes a read.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// FuzzScrubBody: whatever the body, the secrets and the size of the reads,
// the scrubbed body has the body's length, differs from it only by '*',
// and shows no secret (one without '*', which masking could recreate).
func FuzzScrubBody(f *testing.F) {
	f.Add([]byte(`{"rt_cd":"0","echo":"secret/ABC+def=="}`), "secret/ABC+def==", "PSkey0123", uint8(3))
	f.Add([]byte("aaaaabcabcab"), "abc", "ab", uint8(0))
	f.Add([]byte("abcbcab"), "bc", "abc", uint8(1))
	f.Add([]byte(""), "x", "", uint8(7))
	f.Fuzz(func(t *testing.T, body []byte, s1, s2 string, chunk uint8) {
		rc := NewBody(io.NopCloser(&chunked{b: append([]byte(nil), body...), n: int(chunk) + 1}), []string{s1, s2}, nil)
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(body) {
			t.Fatalf("scrubbed %d bytes into %d", len(body), len(got))
		}
		for i := range got {
			if got[i] != body[i] && got[i] != '*' {
				t.Fatalf("byte %d: %q became %q", i, body[i], got[i])
			}
		}
		for _, s := range []string{s1, s2} {
			if s != "" && !strings.Contains(s, "*") && strings.Contains(string(got), s) {
				t.Fatalf("%q survives in %q", s, got)
			}
		}
	})
}

// BenchmarkScrubBody reads a 1 MiB answer through the masking, against a
// plain read of the same answer: the cost the proxy pays per byte.
func BenchmarkScrubBody(b *testing.B) {
	key, secret := "PSkey0123456789abcdefghijklmnopqrstu", strings.Repeat("s3cr3t+/", 22)
	body := []byte(strings.Repeat(`{"stck_prpr":"71000","prdy_vrss":"-500","acml_vol":"12345678"},`, (1<<20)/64))
	buf := make([]byte, 32<<10)
	for _, bc := range []struct {
		name string
		wrap func(io.ReadCloser) io.ReadCloser
	}{
		{"plain", func(rc io.ReadCloser) io.ReadCloser { return rc }},
		{"masked", func(rc io.ReadCloser) io.ReadCloser { return NewBody(rc, []string{key, secret}, nil) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				rc := bc.wrap(io.NopCloser(bytes.NewReader(body)))
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
