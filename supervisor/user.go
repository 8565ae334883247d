package supervisor

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"dagger/commandcenter/internal/contract"
)

// The command of a run with --user runs as that user (UID:GID), not as
// root: the supervisor starts it with the user's credentials, a home of its
// own, and its persistent folders made its own. The supervisor itself stays
// root: it holds the project's locks, serves its ports and writes the
// live-reload watcher's files.

// userFiles are where the accounts of the container are, and its homes.
var userFiles = struct{ passwd, group, homes string }{"/etc/passwd", "/etc/group", "/home"}

// account is the user a run's command runs as.
type account struct {
	uid, gid uint32
	name     string
	home     string
}

// credential is what a process of the account starts with; nil for root.
func (a *account) credential() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{a.gid}}
	}
	return attr
}

// userID is the account's UID, or -1 for root (no --user).
func (a *account) userID() int {
	if a == nil {
		return -1
	}
	return int(a.uid)
}

// rootHome is root's home, which another user cannot enter.
const rootHome = "/root"

// environ is the environment of a process of the account: the
// supervisor's, with its USER and LOGNAME, its HOME where the image left
// none, and the account's home for root's in every value that is a path in
// root's home (HOME itself, a package manager's cache folder that the
// image's build step used as root).
func (a *account) environ() []string {
	if a == nil {
		return nil
	}
	var env []string
	home := false
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(v, rootHome); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			v = a.home + rest
		}
		if k == "HOME" {
			home = v != ""
			if !home {
				continue
			}
		}
		env = append(env, k+"="+v)
	}
	if !home {
		env = append(env, "HOME="+a.home)
	}
	return append(env, "USER="+a.name, "LOGNAME="+a.name)
}

// newAccount sets up the account of spec (UID:GID) in this container: an
// entry in /etc/passwd and /etc/group when the image has none (programs
// that look their user up, as Python's getpass and Node's os.userInfo do,
// find it), a home it owns, and the persistent folders (paths) its own,
// file by file: a folder a root run wrote before, or a restore, is the
// user's again. It says what it changed.
func newAccount(spec string, folders []string, say func(format string, args ...any)) (*account, error) {
	uid, gid, err := contract.SplitUser(spec)
	if err != nil {
		return nil, err
	}
	a := &account{uid: uid, gid: gid}
	name, home, found, err := lookupUser(userFiles.passwd, uid)
	if err != nil {
		return nil, err
	}
	if found {
		a.name, a.home = name, home
	} else {
		a.name = freeName(userFiles.passwd, "app", uid)
		a.home = filepath.Join(userFiles.homes, a.name)
		line := fmt.Sprintf("%s:x:%d:%d:the project's app:%s:/bin/sh\n", a.name, uid, gid, a.home)
		if err := appendLine(userFiles.passwd, line); err != nil {
			return nil, fmt.Errorf("cannot add user %d to %s: %v", uid, userFiles.passwd, err)
		}
	}
	if _, _, found, err := lookupUser(userFiles.group, gid); err == nil && !found {
		if err := appendLine(userFiles.group, fmt.Sprintf("%s:x:%d:\n", freeName(userFiles.group, a.name, gid), gid)); err != nil {
			return nil, fmt.Errorf("cannot add group %d to %s: %v", gid, userFiles.group, err)
		}
	}
	if a.home == "" || a.home == "/" || a.home == "/nonexistent" {
		a.home = filepath.Join(userFiles.homes, a.name)
	}
	if err := os.MkdirAll(a.home, 0o755); err != nil {
		return nil, fmt.Errorf("cannot make the home of user %d (%s): %v", uid, a.home, err)
	}
	if err := own(a.home, uid, gid); err != nil {
		return nil, err
	}
	for _, f := range folders {
		n, err := ownAll(f, uid, gid)
		if err != nil {
			return nil, fmt.Errorf("cannot make the persistent folder %s the user's (%s): %v", f, spec, err)
		}
		if n > 0 {
			say("made %d files of the persistent folder %s the app user's (%s), which root wrote", n, f, spec)
		}
	}
	return a, nil
}

// lookupUser finds the entry of id (third field) in a passwd or group
// file: its name, and in passwd its home.
func lookupUser(file string, id uint32) (name, home string, found bool, err error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[2] != strconv.FormatUint(uint64(id), 10) {
			continue
		}
		if len(fields) >= 6 {
			home = fields[5]
		}
		return fields[0], home, true, nil
	}
	return "", "", false, sc.Err()
}

// freeName is base, or base followed by id when file has an entry named
// base already.
func freeName(file, base string, id uint32) string {
	data, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, base+":") {
			return fmt.Sprintf("%s%d", base, id)
		}
	}
	return base
}

func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// own makes folder p the user's unless it is already (not what it holds).
func own(p string, uid, gid uint32) error {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return err
	}
	if st.Uid == uid && st.Gid == gid {
		return nil
	}
	return os.Chown(p, int(uid), int(gid))
}

// ownAll makes root and everything under it the user's, and counts the
// entries it changed.
func ownAll(root string, uid, gid uint32) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || (st.Uid == uid && st.Gid == gid) {
			return nil
		}
		n++
		return os.Lchown(p, int(uid), int(gid))
	})
	return n, err
}
