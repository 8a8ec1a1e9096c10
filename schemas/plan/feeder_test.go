package plan

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadFeeder(t *testing.T) {
	fsys := fstest.MapFS{
		"data/users.csv":   {Data: []byte("\xef\xbb\xbfuser,password\nalice,s3cret\n\"bob, jr\",\"p\"\"w\"\n")},
		"data/users.json":  {Data: []byte(`[{"user":"alice","age":31,"admin":true,"nick":null}, {"user":"bob","age":2.5e1}]`)},
		"data/list.txt":    {Data: []byte("id\n1\n2\n")},
		"data/forced.data": {Data: []byte(`[{"id":"x"}]`)},
	}
	tests := []struct {
		why  string
		f    Feeder
		want []map[string]string
	}{
		{"csv header names the variables; quotes, commas and a BOM are handled",
			Feeder{File: "data/users.csv"},
			[]map[string]string{{"user": "alice", "password": "s3cret"}, {"user": "bob, jr", "password": `p"w`}}},
		{"json scalars other than strings keep their JSON text",
			Feeder{File: "data/users.json"},
			[]map[string]string{{"user": "alice", "age": "31", "admin": "true", "nick": "null"}, {"user": "bob", "age": "2.5e1"}}},
		{"an unknown extension is read as CSV",
			Feeder{File: "data/list.txt"},
			[]map[string]string{{"id": "1"}, {"id": "2"}}},
		{"an explicit format wins over the extension",
			Feeder{File: "data/forced.data", Format: FeederJSON},
			[]map[string]string{{"id": "x"}}},
		{"a ./ prefix is cleaned",
			Feeder{File: "./data/list.txt"},
			[]map[string]string{{"id": "1"}, {"id": "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := ReadFeeder(fsys, &tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadFeederErrors(t *testing.T) {
	big := "v\n" + strings.Repeat("x\n", MaxFileBytes/2+1)
	fsys := fstest.MapFS{
		"ragged.csv":     {Data: []byte("a,b\n1,2\n3\n")},
		"dupcol.csv":     {Data: []byte("a,a\n1,2\n")},
		"emptycol.csv":   {Data: []byte("a,\n1,2\n")},
		"empty.csv":      {Data: []byte("")},
		"header.csv":     {Data: []byte("a,b\n")},
		"quote.csv":      {Data: []byte("a\n\"open\n")},
		"nested.json":    {Data: []byte("[\n{\"a\":1},\n{\"a\":{\"b\":2}}\n]")},
		"object.json":    {Data: []byte(`{"a":1}`)},
		"scalar.json":    {Data: []byte("[\n1\n]")},
		"syntax.json":    {Data: []byte("[\n{\"a\":1},\n{\"a\" 2}\n]")},
		"truncated.json": {Data: []byte("[\n{\"a\":1}")},
		"trailing.json":  {Data: []byte(`[{"a":1}] []`)},
		"emptyarr.json":  {Data: []byte(`[]`)},
		"big.csv":        {Data: []byte(big)},
		"dir/x.csv":      {Data: []byte("a\n1\n")},
	}
	tests := []struct {
		why      string
		file     string
		sentinel error
		line     int
		msg      string
	}{
		{"a row with fewer fields than the header", "ragged.csv", ErrBadFeeder, 3, "wrong number of fields"},
		{"two columns with one name would shadow each other", "dupcol.csv", ErrBadFeeder, 1, `duplicate column "a"`},
		{"an unnamed column cannot be referenced", "emptycol.csv", ErrBadFeeder, 1, "empty name"},
		{"an empty file has no header", "empty.csv", ErrBadFeeder, 0, "empty file"},
		{"a header without rows feeds nobody", "header.csv", ErrBadFeeder, 0, "no records"},
		{"an unterminated quote", "quote.csv", ErrBadFeeder, 2, "quote"},
		{"nested objects are not flat records", "nested.json", ErrBadFeeder, 3, `field "a"`},
		{"a JSON object instead of an array", "object.json", ErrBadFeeder, 1, "array of objects"},
		{"array elements must be objects", "scalar.json", ErrBadFeeder, 2, "not an object"},
		{"a JSON syntax error carries its line", "syntax.json", ErrBadFeeder, 3, "invalid character"},
		{"a truncated JSON file", "truncated.json", ErrBadFeeder, 2, "unexpected end"},
		{"data after the array", "trailing.json", ErrBadFeeder, 1, "after the array"},
		{"an empty array feeds nobody", "emptyarr.json", ErrBadFeeder, 0, "no records"},
		{"files over 1 MiB are refused", "big.csv", ErrFileTooLarge, 0, "over"},
		{"a missing file", "missing.csv", fs.ErrNotExist, 0, ""},
		{"a directory is not a feeder", "dir", nil, 0, "directory"},
		{"absolute paths escape the source", "/etc/passwd", ErrBadFilePath, 0, "relative"},
		{"dot-dot escapes the source", "data/../../secret.csv", ErrBadFilePath, 0, `".."`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			_, err := ReadFeeder(fsys, &Feeder{File: tt.file})
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v is not %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
			var fe *FeederError
			if errors.As(err, &fe) {
				if fe.Line != tt.line {
					t.Fatalf("line %d, want %d (%v)", fe.Line, tt.line, err)
				}
				if fe.File != tt.file {
					t.Fatalf("file %q, want %q", fe.File, tt.file)
				}
			} else if tt.line != 0 {
				t.Fatalf("want a *FeederError, got %T %v", err, err)
			}
		})
	}
}
