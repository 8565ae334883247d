package main

import (
	"fmt"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
)

// The backend, its workers and the frontend, in the images the module
// builds, run as a user of their own (defaultUser), not as root, unless
// --user says otherwise: their source is the user's, and so are their
// persistent folders. The supervisor around each stays root (it holds the
// project's locks, serves the ports, installs again on a manifest's change).

// defaultUser is UID:GID the module-built services run as: the Node image's
// node user; in the Python image the supervisor adds it as "app".
const defaultUser = "1000:1000"

// setUser reads a --user option, when given, into field as the settings
// keep it: "root", or UID:GID (a UID alone is UID:UID).
func setUser(field *string, s, option string) error {
	switch {
	case s == "":
		return nil
	case s == "root" || s == "0" || s == "0:0":
		*field = "root"
		return nil
	}
	user := s
	if !strings.Contains(user, ":") {
		user += ":" + user
	}
	if _, _, err := contract.SplitUser(user); err != nil {
		return fmt.Errorf("%s %q: give root, a UID or UID:GID, numbers, such as 1000 or 1000:1000 (a user's name is not looked up)", option, s)
	}
	*field = user
	return nil
}

// setMemory reads a --memory option (a size, see check.Memory), when
// given, into field, in bytes.
func setMemory(field *int64, s, option string) error {
	if s == "" {
		return nil
	}
	n, err := check.Memory(s, option)
	if err == nil {
		*field = n
	}
	return err
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
