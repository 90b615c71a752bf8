package promtext

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the text format's media type. Prometheus 3 refuses a
// scrape whose Content-Type is missing or unknown unless its scrape config
// names a fallback.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves r's series in the text format, compressed with gzip when
// the request accepts it (Prometheus asks for it).
func Handler(r *Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b := r.Gather()
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(req.Header.Values("Accept-Encoding")) {
			b.WriteTo(w)
			return
		}
		h.Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		b.WriteTo(gz)
		gz.Close()
		gz.Reset(nil)
		gzipWriters.Put(gz)
	})
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// acceptsGzip reports whether Accept-Encoding lists gzip with a quality
// above zero (RFC 9110, section 12.5.3).
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				name, val, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(name), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}
