package plan

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// MaxFileBytes is the largest file a plan may reference (feeder, script).
const MaxFileBytes = 1 << 20

// Sentinels of file problems; the concrete errors wrap them.
var (
	// ErrFileTooLarge means a referenced file exceeds MaxFileBytes.
	ErrFileTooLarge = errors.New("file too large")
	// ErrBadFilePath means a referenced path is absolute or leaves its root.
	ErrBadFilePath = errors.New("bad file path")
	// ErrBadFeeder means a feeder file does not parse into records.
	ErrBadFeeder = errors.New("bad feeder")

	errIsDir = errors.New("is a directory")
)

// FeederError says where a feeder file fails to parse.
type FeederError struct {
	File string
	// Line is 1-based; zero when the problem is not tied to a line.
	Line int
	Msg  string
}

func (e *FeederError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrBadFeeder) hold.
func (e *FeederError) Unwrap() error { return ErrBadFeeder }

// ReadFeeder reads every record of a feeder file from fsys, whose root is
// the directory feeder paths are relative to (see CheckFiles). A CSV file's
// first row names the variables; a JSON file is an array of flat objects
// whose non-string scalars become their JSON text (42, true, null).
func ReadFeeder(fsys fs.FS, f *Feeder) ([]map[string]string, error) {
	name, err := CleanRelPath(f.File)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(fsys, name)
	if err != nil {
		return nil, err
	}
	var records []map[string]string
	switch f.EffectiveFormat() {
	case FeederJSON:
		records, err = parseJSONFeeder(data)
	default:
		records, err = parseCSVFeeder(data)
	}
	if err != nil {
		var fe *FeederError
		if errors.As(err, &fe) {
			fe.File = f.File
		}
		return nil, err
	}
	if len(records) == 0 {
		return nil, &FeederError{File: f.File, Msg: "no records"}
	}
	return records, nil
}

// EffectiveFormat returns the feeder's format, inferred from the file
// extension when unset: .json is JSON, anything else CSV.
func (f *Feeder) EffectiveFormat() FeederFormat {
	if f.Format != "" {
		return f.Format
	}
	if strings.EqualFold(path.Ext(f.File), ".json") {
		return FeederJSON
	}
	return FeederCSV
}

// EffectiveStrategy returns the feeder's strategy, circular when unset.
func (f *Feeder) EffectiveStrategy() FeederStrategy {
	if f.Strategy == "" {
		return FeederCircular
	}
	return f.Strategy
}

// CleanRelPath checks that p is a relative slash-separated path that stays
// inside its root, and returns it in the form fs.FS expects ("a/b.csv").
func CleanRelPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrBadFilePath)
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return "", fmt.Errorf("%w: %q must be a relative path with forward slashes", ErrBadFilePath, p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: %q must not contain \"..\"", ErrBadFilePath, p)
		}
	}
	clean := path.Clean(p)
	if !fs.ValidPath(clean) || clean == "." {
		return "", fmt.Errorf("%w: %q is not a file path", ErrBadFilePath, p)
	}
	return clean, nil
}

// readLimited reads a whole file, refusing files over MaxFileBytes without
// reading them entirely.
func readLimited(fsys fs.FS, name string) ([]byte, error) {
	file, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%w: %s", errIsDir, name)
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrFileTooLarge, name, MaxFileBytes)
	}
	return data, nil
}

func parseCSVFeeder(data []byte) ([]map[string]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // spreadsheets add a BOM
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &FeederError{Msg: "empty file: want a header row naming the columns"}
	}
	if err != nil {
		return nil, csvError(err)
	}
	if err := checkNames(header); err != nil {
		return nil, err
	}
	var records []map[string]string
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return records, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		rec := make(map[string]string, len(header))
		for i, name := range header {
			rec[name] = row[i]
		}
		records = append(records, rec)
	}
}

func checkNames(header []string) error {
	seen := make(map[string]bool, len(header))
	for i, name := range header {
		if name == "" {
			return &FeederError{Line: 1, Msg: fmt.Sprintf("column %d has an empty name", i+1)}
		}
		if seen[name] {
			return &FeederError{Line: 1, Msg: fmt.Sprintf("duplicate column %q", name)}
		}
		seen[name] = true
	}
	return nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields: every row needs one value per header column"
		}
		return &FeederError{Line: pe.Line, Msg: msg}
	}
	return &FeederError{Msg: err.Error()}
}

func parseJSONFeeder(data []byte) ([]map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n")) }
	fail := func(off int64, format string, args ...any) error {
		return &FeederError{Line: lineAt(off), Msg: fmt.Sprintf(format, args...)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonFeederError(data, dec.InputOffset(), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fail(0, "want a JSON array of objects")
	}
	var records []map[string]string
	for i := 0; dec.More(); i++ {
		start := skipSeparators(data, dec.InputOffset())
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fail(start, "record %d is not an object", i)
			}
			return nil, jsonFeederError(data, dec.InputOffset(), err)
		}
		if obj == nil {
			return nil, fail(start, "record %d is null, want an object", i)
		}
		rec := make(map[string]string, len(obj))
		for k, v := range obj {
			s, ok := scalarText(v)
			if !ok {
				return nil, fail(start, "record %d: field %q is not a string, number, boolean or null", i, k)
			}
			rec[k] = s
		}
		records = append(records, rec)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonFeederError(data, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail(dec.InputOffset(), "unexpected data after the array")
	}
	return records, nil
}

// skipSeparators moves off past the whitespace and comma before the next
// array element, so that its line is the element's own.
func skipSeparators(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case nil:
		return "null", true
	}
	return "", false
}

func jsonFeederError(data []byte, off int64, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		off = int64(len(data))
		err = errors.New("unexpected end of JSON input")
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	return &FeederError{Line: line, Msg: err.Error()}
}
