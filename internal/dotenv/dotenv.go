// Package dotenv reads environment files in the format docker compose's
// env_file takes: KEY=VALUE lines, an optional "export " before the key,
// comments, and values in single quotes (taken as written) or double quotes
// (with \n, \t, \", \\ escapes, and newlines inside). Values are not
// interpolated: ${VAR} stays as written.
//
// Errors name the line and what is wrong with it, never its value, so that
// a file of secrets can be checked without showing them.
package dotenv

import (
	"fmt"
	"regexp"
	"strings"
)

// Var is one variable of an environment file.
type Var struct {
	Name  string
	Value string
}

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Parse reads an environment file. A name given twice keeps its last value,
// as compose does.
func Parse(text string) ([]Var, error) {
	text = strings.TrimPrefix(strings.ReplaceAll(text, "\r\n", "\n"), "\ufeff")
	lines := strings.Split(text, "\n")
	// A NUL or another control character cannot be in a variable: the
	// kernel cuts a value at NUL, and the others are a file that is not
	// text (binary, or saved in another encoding).
	for i, line := range lines {
		for _, c := range line {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("line %d has a control character (%U): an env file is text, KEY=VALUE lines; save it as UTF-8 text without it", i+1, c)
			}
		}
	}
	var vars []Var
	index := map[string]int{}
	for i := 0; i < len(lines); i++ {
		number := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, rest, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("line %d is not KEY=VALUE (it has no \"=\")", number)
		}
		if !keyPattern.MatchString(name) {
			return nil, fmt.Errorf("line %d: the name before \"=\" is not a variable name (letters, digits and _ . -, not starting with a digit)", number)
		}
		rest = strings.TrimLeft(rest, " \t")
		var value string
		switch {
		case strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, `'`):
			quote := rest[0]
			body := rest[1:]
			// A quoted value may go on over the next lines.
			for !closes(body, quote) {
				if i+1 >= len(lines) {
					return nil, fmt.Errorf("line %d: the value's %c quote is never closed", number, quote)
				}
				i++
				body += "\n" + lines[i]
			}
			end := closing(body, quote)
			if tail := strings.TrimSpace(body[end+1:]); tail != "" && !strings.HasPrefix(tail, "#") {
				return nil, fmt.Errorf("line %d: there is text after the value's closing %c quote", number, quote)
			}
			value = body[:end]
			if quote == '"' {
				value = unescape(value)
			}
		default:
			value = rest
			if at := strings.Index(value, " #"); at >= 0 {
				value = value[:at]
			}
			value = strings.TrimSpace(value)
		}
		if at, seen := index[name]; seen {
			vars[at].Value = value
			continue
		}
		index[name] = len(vars)
		vars = append(vars, Var{Name: name, Value: value})
	}
	return vars, nil
}

// closing returns the index of the quote that closes body, or -1; in double
// quotes a backslash escapes the next character.
func closing(body string, quote byte) int {
	for i := 0; i < len(body); i++ {
		switch {
		case quote == '"' && body[i] == '\\':
			i++
		case body[i] == quote:
			return i
		}
	}
	return -1
}

func closes(body string, quote byte) bool { return closing(body, quote) >= 0 }

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '"', '\\', '$':
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
