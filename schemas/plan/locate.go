package plan

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
)

// locateDecodeErrors finds the values of the generic document that do not
// decode into their place in target (a pointer to a Plan), by walking both
// together, and explains them. encoding/json reports such errors without a
// usable JSON pointer, and only the first.
func locateDecodeErrors(tree any, target any) []Problem {
	var out []Problem
	locate(tree, reflect.TypeOf(target).Elem(), "", &out)
	return out
}

func locate(v any, t reflect.Type, ptr string, out *[]Problem) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return
	}
	if !isUnmarshaler(t) {
		switch val := v.(type) {
		case map[string]any:
			locateObject(val, t, ptr, out)
			return
		case []any:
			if t.Kind() == reflect.Slice {
				for i, item := range val {
					locate(item, t.Elem(), pointer(ptr, i), out)
				}
				return
			}
		}
	}
	if prob, found := locateLeaf(v, t, ptr); found {
		*out = append(*out, prob)
	}
}

func locateObject(obj map[string]any, t reflect.Type, ptr string, out *[]Problem) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var fields map[string]reflect.Type
	if t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	for _, k := range keys {
		ft, ok := fields[k]
		if t.Kind() == reflect.Map {
			ft, ok = t.Elem(), true
		}
		if !ok {
			continue
		}
		locate(obj[k], ft, pointer(ptr, k), out)
	}
}

// jsonFields maps the JSON names of a struct's fields, embedded structs
// flattened, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range jsonFields(f.Type) {
				fields[n] = ft
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func locateLeaf(v any, t reflect.Type, ptr string) (Problem, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return Problem{}, false
	}
	if err := json.Unmarshal(b, reflect.New(t).Interface()); err == nil {
		return Problem{}, false
	} else if n, isNum := v.(json.Number); isNum && isIntKind(t.Kind()) && !isUnmarshaler(t) {
		return Problem{Path: ptr, Message: integerMessage(n)}, true
	} else {
		return Problem{Path: ptr, Message: err.Error()}, true
	}
}

func isUnmarshaler(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]())
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func integerMessage(n json.Number) string {
	r, ok := new(big.Rat).SetString(string(n))
	if ok && r.IsInt() && r.Num().IsInt64() {
		return fmt.Sprintf("%s must be written as a plain integer, without a fraction or exponent", n)
	}
	return fmt.Sprintf("number %s is out of range", n)
}
