package dotenv

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseReadsComposeEnvFiles(t *testing.T) {
	text := "\ufeff# settings\n" +
		"SECRET_KEY=abc123\n" +
		"export DEBUG=true\n" +
		"CORS_ORIGINS='[\"http://localhost:3000\"]'\n" +
		"GREETING=\"hello\\nworld \\\"quoted\\\"\"\n" +
		"PLAIN = spaced value # a comment\n" +
		"HASH=a#b\n" +
		"EMPTY=\n" +
		"LITERAL='${NOT_EXPANDED} \\n'\n" +
		"MULTI=\"line one\nline two\"\n" +
		"SECRET_KEY=last wins\r\n"
	got, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Var{
		{"SECRET_KEY", "last wins"},
		{"DEBUG", "true"},
		{"CORS_ORIGINS", `["http://localhost:3000"]`},
		{"GREETING", "hello\nworld \"quoted\""},
		{"PLAIN", "spaced value"},
		{"HASH", "a#b"},
		{"EMPTY", ""},
		{"LITERAL", `${NOT_EXPANDED} \n`},
		{"MULTI", "line one\nline two"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %q\nwant %q", got, want)
	}
}

func TestParseNamesTheLineButNeverTheValue(t *testing.T) {
	for text, want := range map[string]string{
		"A=1\nsupersecretvalue\n":         "line 2 is not KEY=VALUE",
		"A=1\n\n9X=supersecretvalue\n":    "line 3: the name",
		"A=\"supersecretvalue\n":          `line 1: the value's " quote is never closed`,
		"A='supersecretvalue' trailing\n": "line 1: there is text after",
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", text, err, want)
			continue
		}
		if strings.Contains(err.Error(), "supersecretvalue") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
}

func TestControlCharactersAreRefusedWithTheirLine(t *testing.T) {
	for text, line := range map[string]string{
		"A=1\nB=x\x00y\n":     "line 2",
		"A=1\nB=2\nC=\x1b[0m": "line 3",
		"A=\"x\x01\"":         "line 1",
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), line) || !strings.Contains(err.Error(), "control character") {
			t.Errorf("Parse(%q) = %v, want an error naming %s and the control character", text, err, line)
		}
		if err != nil && strings.ContainsAny(err.Error(), "xy") && strings.Contains(err.Error(), "x\x00y") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
	if _, err := Parse("A=tab\there\r\nB=2\n"); err != nil {
		t.Errorf("tabs and CRLF are text: %v", err)
	}
}
