// Package manifest reads a project's dependency manifests just far enough to
// know which files the install step needs: the requirement and constraint
// files a pip requirements file includes, the local libraries it installs,
// and the dependencies a pyproject.toml lists. The requirements themselves
// are left to the installer, which reports what is wrong with them.
package manifest

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Ref is a file or folder a requirements file names.
type Ref struct {
	// Path as written, relative to the folder named in Resolve.
	Path string
	// Include is true for a requirement or constraint file (-r, -c), whose
	// own references count too; false for a local project folder or a
	// folder of wheels (-e ../libs/x, ./pkg, --find-links ./wheels).
	Include bool
	// Line is the line of the requirements file that names it.
	Line int
}

// Options of pip's requirements file format that name a file or folder.
var (
	includeOptions = map[string]bool{"-r": true, "--requirement": true, "-c": true, "--constraint": true}
	folderOptions  = map[string]bool{"-e": true, "--editable": true, "-f": true, "--find-links": true}
)

// Requirements returns the files and folders a pip requirements file names
// that are local paths. Remote ones (URLs, VCS links) and requirements by
// name are not returned; pip fetches those.
func Requirements(text string) []Ref {
	var refs []Ref
	for _, l := range logicalLines(text) {
		fields := strings.Fields(l.text)
		if len(fields) == 0 {
			continue
		}
		first := fields[0]
		opt, value, attached := splitOption(first)
		switch {
		case includeOptions[opt] || folderOptions[opt]:
			if !attached {
				if len(fields) < 2 {
					continue // pip reports the missing value
				}
				value = fields[1]
			}
			if p, ok := localPath(stripExtras(value)); ok {
				refs = append(refs, Ref{Path: p, Include: includeOptions[opt], Line: l.number})
			}
		case strings.HasPrefix(first, "-"):
			// Another option (--index-url, --hash, ...): nothing local.
		default:
			// A requirement: local when it is a path, such as ./pkg or ../libs/x[extra].
			if looksLikePath(first) {
				if p, ok := localPath(stripExtras(first)); ok {
					refs = append(refs, Ref{Path: p, Line: l.number})
				}
			}
		}
	}
	return refs
}

type line struct {
	number int
	text   string
}

// logicalLines joins continued lines (a trailing backslash), drops comments
// and a leading byte order mark, as pip does.
func logicalLines(text string) []line {
	text = strings.TrimPrefix(text, "\ufeff")
	var out []line
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(raw, "\\") {
			cur.WriteString(strings.TrimSuffix(raw, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(raw)
		out = append(out, line{number: start, text: stripComment(cur.String())})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, line{number: start, text: stripComment(cur.String())})
	}
	return out
}

// stripComment removes a comment: # at the start or after white space.
func stripComment(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// splitOption splits "--requirement=x", "-rx" and "-r" into the option and
// an attached value.
func splitOption(field string) (opt, value string, attached bool) {
	if strings.HasPrefix(field, "--") {
		if o, v, ok := strings.Cut(field, "="); ok {
			return o, v, true
		}
		return field, "", false
	}
	if strings.HasPrefix(field, "-") && len(field) > 2 {
		return field[:2], strings.TrimPrefix(field[2:], "="), true
	}
	return field, "", false
}

// stripExtras drops "[extra,...]" from the end of a path.
func stripExtras(s string) string {
	if i := strings.Index(s, "["); i > 0 && strings.HasSuffix(s, "]") {
		return s[:i]
	}
	return s
}

func looksLikePath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "file:")
}

// localPath returns a path written as a path or a file: URL; false for URLs
// of other schemes and VCS links.
func localPath(s string) (string, bool) {
	if strings.HasPrefix(s, "file://") {
		return strings.TrimPrefix(s, "file://"), true
	}
	if strings.HasPrefix(s, "file:") {
		return strings.TrimPrefix(s, "file:"), true
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "git+") || strings.HasPrefix(s, "hg+") ||
		strings.HasPrefix(s, "svn+") || strings.HasPrefix(s, "bzr+") {
		return "", false
	}
	return s, s != ""
}

// Resolve returns the path of ref inside the project's source, given the
// folder (relative to the source) it is relative to; an error when it leaves
// the source or is absolute.
func Resolve(ref Ref, dir, file string) (string, error) {
	if strings.HasPrefix(ref.Path, "/") {
		return "", fmt.Errorf("%s line %d names %s, an absolute path: the install step sees only --src, so name it relative to %s", file, ref.Line, ref.Path, dir)
	}
	p := path.Clean(path.Join(dir, ref.Path))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%s line %d names %s, outside --src: pass the folder that holds both (the repository's root) as --src", file, ref.Line, ref.Path)
	}
	return p, nil
}

// Pyproject returns the dependencies of a pyproject.toml's [project] table,
// with those of the optional groups named in extras, as lines of a pip
// requirements file.
func Pyproject(text string, extras []string) (string, error) {
	var doc struct {
		Project *struct {
			Dependencies         []string            `toml:"dependencies"`
			OptionalDependencies map[string][]string `toml:"optional-dependencies"`
			Dynamic              []string            `toml:"dynamic"`
		} `toml:"project"`
		Tool struct {
			Poetry map[string]any `toml:"poetry"`
		} `toml:"tool"`
	}
	if _, err := toml.Decode(text, &doc); err != nil {
		return "", fmt.Errorf("not valid TOML (%v): fix the file", err)
	}
	if doc.Project == nil {
		if doc.Tool.Poetry != nil {
			return "", fmt.Errorf("it lists its dependencies for Poetry ([tool.poetry]), not in a [project] table: export them (poetry export -o requirements.txt) or list them under [project] dependencies")
		}
		return "", fmt.Errorf("it has no [project] table: list the backend's dependencies under [project] dependencies, or add a requirements.txt")
	}
	for _, d := range doc.Project.Dynamic {
		if d == "dependencies" || d == "optional-dependencies" {
			return "", fmt.Errorf("its %s are dynamic (computed by the build backend): list them in the file, or add a requirements.txt", d)
		}
	}
	deps := append([]string(nil), doc.Project.Dependencies...)
	for _, extra := range extras {
		group, ok := doc.Project.OptionalDependencies[extra]
		if !ok {
			names := make([]string, 0, len(doc.Project.OptionalDependencies))
			for name := range doc.Project.OptionalDependencies {
				names = append(names, name)
			}
			sort.Strings(names)
			return "", fmt.Errorf("it has no optional dependency group %q (it has: %s): fix with-backend --extras", extra, strings.Join(names, ", "))
		}
		deps = append(deps, group...)
	}
	var b strings.Builder
	b.WriteString("# The dependencies of pyproject.toml's [project] table.\n")
	for _, d := range deps {
		b.WriteString(strings.TrimSpace(d) + "\n")
	}
	return b.String(), nil
}

// urlUserinfo matches a URL with a user (and maybe a password) before its
// host: https://user:token@host/..., git+https://token@host/...
var urlUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s/@]+@`)

// HoldsCredentials says whether a requirements file's text has a URL with
// credentials in it (a private index's token, a VCS link's). Such a text
// must not become an argument of an engine call, which Dagger's progress
// prints: it stays a file.
func HoldsCredentials(text string) bool {
	return urlUserinfo.MatchString(text)
}
