package main

import (
	"fmt"
	"strconv"
	"strings"
)

// The backend, its workers and the frontend, in the images the module
// builds, run as a user of their own (defaultUser), not as root, unless
// --user says otherwise: their source is the user's, and so are their
// persistent folders. The supervisor around each stays root (it holds the
// project's locks, serves the ports, installs again on a manifest's change).

// defaultUser is UID:GID the module-built services run as: the Node image's
// node user; in the Python image the supervisor adds it as "app".
const defaultUser = "1000:1000"

// parseUser reads a --user option: root, UID, or UID:GID (numbers). It
// returns it as the settings keep it: "root", or UID:GID.
func parseUser(s, option string) (string, error) {
	if s == "root" || s == "0" || s == "0:0" {
		return "root", nil
	}
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		g = u
	}
	uid, err1 := strconv.ParseUint(u, 10, 31)
	_, err2 := strconv.ParseUint(g, 10, 31)
	if err1 != nil || err2 != nil || uid == 0 {
		return "", fmt.Errorf("%s %q: give root, a UID or UID:GID, numbers, such as 1000 or 1000:1000 (a user's name is not looked up)", option, s)
	}
	return u + ":" + g, nil
}

// runAs is the supervisor's --user for a setting: empty for root.
func runAs(setting string) string {
	switch setting {
	case "":
		return defaultUser
	case "root":
		return ""
	}
	return setting
}

// checkUser refuses --user for an image built from a Dockerfile, which runs
// as the user its Dockerfile says.
func checkUser(setting string, build DockerfileSettings, with string) error {
	if setting != "" && build.Dockerfile != "" {
		return fmt.Errorf("%s --user: an image built from a Dockerfile runs as its Dockerfile's USER: set USER there, or leave --user out", with)
	}
	return nil
}

// asUser is a build step's command (run as root) followed by what makes
// every file under dir that is not the user's (UID:GID; empty: root) the
// user's, in the same layer: what an install or a build wrote.
func asUser(command []string, user, dir string) []string {
	if user == "" {
		return command
	}
	uid, gid, _ := strings.Cut(user, ":")
	return []string{"sh", "-c", shellLine(command) + ownSuffix + fmt.Sprintf(`%s \( ! -user %s -o ! -group %s \) -exec chown -h %s {} +`, dir, uid, gid, user)}
}

// ownSuffix starts what asUser appends to a step's command.
const ownSuffix = " && find "

// shownCommand is a failed step's command as its error names it: without
// what asUser appended, which is not the step the user wrote.
func shownCommand(args []string) string {
	if len(args) == 3 && args[0] == "sh" && args[1] == "-c" && strings.Contains(args[2], ownSuffix) && strings.HasSuffix(args[2], " {} +") {
		return args[2][:strings.LastIndex(args[2], ownSuffix)]
	}
	return strings.Join(args, " ")
}
