package plan

import "github.com/loadfleet/loadfleet/schemas/template"

// checkTemplate checks the templating syntax of a URL, header value or
// body with the injector's own parser, so that what validates renders.
// Whether a variable exists is only known at run time (feeder columns,
// extracted values), so only the syntax is checked here.
func checkTemplate(s string) error {
	_, err := template.Compile(s, template.NewSymbols())
	return err
}
