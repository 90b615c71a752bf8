// Package statuspage holds the agent's status page: one HTML page, its
// style sheet and its script, served from the binary. The page loads
// nothing from anywhere else, so that it runs under a Content-Security-
// Policy of 'self' alone; its script fills the page from data.json.
package statuspage

import (
	"embed"
	"html/template"
	"io"
	"sync"
)

//go:embed index.html app.css app.js
var files embed.FS

// Asset returns the file name (index.html, app.css or app.js) and its
// content type, or ok false for any other name.
func Asset(name string) (body []byte, contentType string, ok bool) {
	types := map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
	}
	ct, ok := types[name]
	if !ok {
		return nil, "", false
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, "", false
	}
	return b, ct, true
}

// The pages' templates are parsed on first use: every kauth command links
// this package, and parsing them at initialization cost each start about
// 160 allocations.
var notice = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("notice").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Next}}<meta http-equiv="refresh" content="0;url={{.Next}}">{{end}}
<title>kauth agent · {{.Title}}</title>
<link rel="stylesheet" href="/status/app.css">
</head><body class="notice">
<main><h1>{{.Title}}</h1><p id="notice">{{.Text}}</p>
{{if .Next}}<p><a href="{{.Next}}">Continue to the status page</a></p>{{end}}
</main></body></html>
`))
})

// Notice writes a short page with a title and one paragraph; with next,
// the page moves on to that same-origin path at once.
func Notice(w io.Writer, title, text, next string) error {
	return notice().Execute(w, struct{ Title, Text, Next string }{title, text, next})
}

var openFile = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("open").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={{.}}">
<title>kauth agent · opening the status page</title>
</head><body>
<p>Opening the kauth agent's status page… If nothing happens, <a href="{{.}}">follow this link</a> (it works once, within a minute).</p>
</body></html>
`))
})

// OpenFile writes a page that sends the browser on to the login URL u at
// once.
func OpenFile(w io.Writer, u string) error { return openFile().Execute(w, u) }
