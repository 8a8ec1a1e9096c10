// Command benchjson prints values out of a JSON document, so that the
// benchmark script needs neither jq nor python: `benchjson FILE a.b c` prints
// the value at each dotted path on one line, separated by spaces ("-" when a
// path is absent). Numbers keep their JSON spelling.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchjson FILE PATH...")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjson:", err)
		os.Exit(1)
	}
	doc, err := decode(raw)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchjson: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	values := make([]string, 0, len(os.Args)-2)
	for _, path := range os.Args[2:] {
		values = append(values, lookup(doc, path))
	}
	fmt.Println(strings.Join(values, " "))
}

func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

func lookup(doc any, path string) string {
	cur := doc
	for key := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "-"
		}
		if cur, ok = obj[key]; !ok {
			return "-"
		}
	}
	switch v := cur.(type) {
	case json.Number:
		return v.String()
	case string:
		return v
	case nil:
		return "-"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
