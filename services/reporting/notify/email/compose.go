package email

import (
	"bytes"
	"encoding/base64"
	"fmt"
	htmltemplate "html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// AttachmentName is the file name of the attached HTML report.
const AttachmentName = "report.html"

// Compose builds the MIME message of m:
//
//	multipart/mixed
//	├── multipart/alternative
//	│   ├── text/plain
//	│   └── text/html
//	└── report.html (text/html, base64), when m has a report
//
// Its Message-ID derives from the outbox ID, so a resend after a crash
// carries the same one and mail systems that deduplicate show it once.
func Compose(from, to *mail.Address, m notify.Message, date time.Time) ([]byte, error) {
	var buf bytes.Buffer
	mixed := multipart.NewWriter(&buf)
	headers := []struct{ name, value string }{
		{"From", from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject())},
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", MessageID(m.RunID, to.Address, from.Address)},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed.Boundary()})},
	}
	for _, h := range headers {
		fmt.Fprintf(&buf, "%s: %s\r\n", h.name, h.value)
	}
	buf.WriteString("\r\n")

	if err := writeAlternative(mixed, m); err != nil {
		return nil, err
	}
	if len(m.ReportHTML) > 0 {
		if err := writeAttachment(mixed, m.ReportHTML); err != nil {
			return nil, err
		}
	}
	if err := mixed.Close(); err != nil {
		return nil, fmt.Errorf("compose email: %w", err)
	}
	return buf.Bytes(), nil
}

// MessageID is the Message-ID of a run's message to an address, in the
// domain of the sender.
func MessageID(runID, to, from string) string {
	domain := "loadfleet.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return "<" + notify.NotificationID(runID, notify.ChannelEmail, to) + "@" + domain + ">"
}

func writeAlternative(mixed *multipart.Writer, m notify.Message) error {
	var part bytes.Buffer
	alt := multipart.NewWriter(&part)
	header := textproto.MIMEHeader{}
	header.Set("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()}))
	w, err := mixed.CreatePart(header)
	if err != nil {
		return fmt.Errorf("compose email: %w", err)
	}
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, m); err != nil {
		return fmt.Errorf("compose email text: %w", err)
	}
	if err := htmlBody.Execute(&html, m); err != nil {
		return fmt.Errorf("compose email html: %w", err)
	}
	if err := writeQuotedPrintable(alt, "text/plain; charset=utf-8", text.Bytes()); err != nil {
		return err
	}
	if err := writeQuotedPrintable(alt, "text/html; charset=utf-8", html.Bytes()); err != nil {
		return err
	}
	if err := alt.Close(); err != nil {
		return fmt.Errorf("compose email: %w", err)
	}
	_, err = w.Write(part.Bytes())
	return err
}

func writeQuotedPrintable(mw *multipart.Writer, contentType string, body []byte) error {
	header := textproto.MIMEHeader{}
	header.Set("Content-Type", contentType)
	header.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(header)
	if err != nil {
		return fmt.Errorf("compose email: %w", err)
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(body); err != nil {
		return fmt.Errorf("compose email: %w", err)
	}
	return qp.Close()
}

func writeAttachment(mixed *multipart.Writer, report []byte) error {
	header := textproto.MIMEHeader{}
	header.Set("Content-Type", mime.FormatMediaType("text/html", map[string]string{"charset": "utf-8", "name": AttachmentName}))
	header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": AttachmentName}))
	header.Set("Content-Transfer-Encoding", "base64")
	w, err := mixed.CreatePart(header)
	if err != nil {
		return fmt.Errorf("compose email: %w", err)
	}
	return writeBase64Lines(w, report)
}

// base64LineLen keeps encoded lines within RFC 2045's 76 characters.
const base64LineLen = 76

func writeBase64Lines(w io.Writer, data []byte) error {
	encoded := base64.StdEncoding.EncodeToString(data)
	for len(encoded) > 0 {
		n := min(base64LineLen, len(encoded))
		if _, err := io.WriteString(w, encoded[:n]+"\r\n"); err != nil {
			return fmt.Errorf("compose email attachment: %w", err)
		}
		encoded = encoded[n:]
	}
	return nil
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.Headline}} ({{.Scope}})
Run {{.RunID}}

{{range .Facts}}{{.Label}}: {{.Value}}
{{end}}{{if .FailedCriteria}}
Failed criteria:
{{range .FailedCriteria}}- {{.}}
{{end}}{{end}}{{if .ReportURL}}
Report: {{.ReportURL}}
{{end}}{{if .ReportHTML}}
The full report is attached (report.html).
{{end}}`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Headline}}</title></head>
<body style="font-family:sans-serif">
<h2 style="color:{{if eq .Verdict "passed"}}#1a7f37{{else}}#cf222e{{end}}">{{.Headline}}</h2>
<p>{{.Scope}} &middot; run <code>{{.RunID}}</code></p>
<table cellpadding="4" style="border-collapse:collapse">
{{range .Facts}}<tr><th align="left">{{.Label}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .FailedCriteria}}<h3>Failed criteria</h3>
<ul>{{range .FailedCriteria}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{if .ReportURL}}<p><a href="{{.ReportURL}}">Open the report</a></p>
{{end}}{{if .ReportHTML}}<p>The full report is attached (report.html).</p>
{{end}}</body></html>
`))
