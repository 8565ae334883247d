package compose

import (
	"regexp"
	"slices"
	"strings"
)

// aptPackages are the Debian packages a Dockerfile installs with apt-get
// (or apt) install, in the order it names them: what a build by the module
// of the same service needs too (a C library a wheel binds to, its
// headers, a compiler). Options, version pins' versions and shell words
// after the command's end are not packages.
func aptPackages(dockerfile string) []string {
	// Continued lines are one instruction.
	text := strings.ReplaceAll(dockerfile, "\\\r\n", " ")
	text = strings.ReplaceAll(text, "\\\n", " ")
	var pkgs []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "RUN") {
			continue
		}
		for _, cmd := range shellCommands.Split(strings.Join(f[1:], " "), -1) {
			words := strings.Fields(cmd)
			i := slices.IndexFunc(words, func(w string) bool { return w == "install" })
			if i < 1 || (words[0] != "apt-get" && words[0] != "apt") {
				continue
			}
			for _, w := range words[i+1:] {
				name, _, _ := strings.Cut(w, "=")
				if strings.HasPrefix(w, "-") || !debianName.MatchString(name) || slices.Contains(pkgs, name) {
					continue
				}
				pkgs = append(pkgs, name)
			}
		}
	}
	return pkgs
}

var (
	shellCommands = regexp.MustCompile(`&&|\|\||;|\|`)
	debianName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)
