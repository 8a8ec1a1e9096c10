package slack

import (
	"strings"

	"github.com/slack-go/slack"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// Slack's limits on block text, in characters.
const (
	maxHeaderChars  = 150
	maxSectionChars = 3000
)

// Blocks lays m out for Slack: a header with the verdict and test, the
// scope and run, the key numbers as fields, the failed criteria, and a
// button to the report.
func Blocks(m notify.Message) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(truncate(m.Headline(), maxHeaderChars))),
		slack.NewContextBlock("scope",
			markdown(escape(m.Scope())+" · run `"+escape(m.RunID)+"`")),
		slack.NewSectionBlock(nil, factFields(m.Facts()), nil, slack.SectionBlockOptionBlockID("numbers")),
	}
	if len(m.FailedCriteria) > 0 {
		var b strings.Builder
		b.WriteString("*Failed criteria*")
		for _, c := range m.FailedCriteria {
			b.WriteString("\n• " + escape(c))
		}
		blocks = append(blocks, slack.NewSectionBlock(markdown(truncate(b.String(), maxSectionChars)), nil, nil,
			slack.SectionBlockOptionBlockID("criteria")))
	}
	if m.ReportURL != "" {
		button := slack.NewButtonBlockElement("open_report", m.RunID, plain("Open the report"))
		button.URL = m.ReportURL
		blocks = append(blocks, slack.NewActionBlock("report", button))
	}
	return blocks
}

func factFields(facts []notify.Fact) []*slack.TextBlockObject {
	fields := make([]*slack.TextBlockObject, 0, len(facts))
	for _, f := range facts {
		fields = append(fields, markdown("*"+f.Label+"*\n"+escape(f.Value)))
	}
	return fields
}

func plain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, false, false)
}

func markdown(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

// escape keeps user text (test names, criteria like "p95 < 300 ms") from
// being read as Slack links or mentions.
var escape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
