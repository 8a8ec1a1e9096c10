package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// checkTemplate checks the templating syntax of a URL, header value or
// body: ${name} is a variable, ${uuid()}, ${session()} and
// ${randomInt(MIN,MAX)} are built-ins, and $${ is a literal ${. Whether a
// variable exists is only known at run time (feeder columns, extracted
// values), so only the syntax is checked here.
func checkTemplate(s string) error {
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return fmt.Errorf(`unterminated "${" at character %d: close it with "}", or write "$${" for a literal "${"`, i+1)
			}
			if err := checkExpression(s[i+2 : i+2+end]); err != nil {
				return err
			}
			i += end + 3
		default:
			i++
		}
	}
	return nil
}

func checkExpression(expr string) error {
	name, args, isCall := strings.Cut(expr, "(")
	name = strings.TrimSpace(name)
	if !isCall {
		if name == "" || strings.ContainsAny(expr, "${}) \t") {
			return fmt.Errorf("invalid variable name %q in ${%s}", expr, expr)
		}
		return nil
	}
	args, closed := strings.CutSuffix(strings.TrimSpace(args), ")")
	if !closed {
		return fmt.Errorf(`missing ")" in ${%s}`, expr)
	}
	switch name {
	case "uuid", "session":
		if strings.TrimSpace(args) != "" {
			return fmt.Errorf("%s() takes no arguments, in ${%s}", name, expr)
		}
		return nil
	case "randomInt":
		return checkRandomInt(args, expr)
	}
	return fmt.Errorf("unknown function %q in ${%s}; known: uuid(), session(), randomInt(MIN,MAX)", name, expr)
}

func checkRandomInt(args, expr string) error {
	lo, hi, ok := strings.Cut(args, ",")
	if !ok {
		return fmt.Errorf("randomInt needs two integers, MIN and MAX, in ${%s}", expr)
	}
	minV, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
	maxV, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("randomInt needs two integers, MIN and MAX, in ${%s}", expr)
	}
	if minV > maxV {
		return fmt.Errorf("randomInt MIN %d is greater than MAX %d in ${%s}", minV, maxV, expr)
	}
	return nil
}
