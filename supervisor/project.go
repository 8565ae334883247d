package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// A project's volumes, as a run of the supervisor sees them (see
// contract.Run): its state volume holds a lock file for each data volume a
// run may hold (locks/KIND), taken with flock(2) by whoever holds that data;
// its secrets volume holds the generated passwords.
//
// A lock is taken without waiting, and the kernel releases it when its
// holder's process ends, by a stop, a crash or SIGKILL: there is nothing to
// clean up, and a second run of a project that runs fails at once, saying
// who holds it.

// exitInUse is the exit status of a run that did not start because another
// run of the project holds its data (EX_TEMPFAIL).
const exitInUse = 75

// holder says who holds a lock: written next to it by its holder.
type holder struct {
	Project string `json:"project"`
	Service string `json:"service"`
	Host    string `json:"host"`
	Since   string `json:"since"`
	PID     int    `json:"pid"`
}

// inUseError is a lock another run holds.
type inUseError struct {
	project, kind string
	by            holder
	known         bool
}

func (e inUseError) Error() string {
	by := "another run of the project"
	if e.known {
		by = fmt.Sprintf("%s (in %s, since %s)", e.by.Service, e.by.Host, e.by.Since)
	}
	return fmt.Sprintf("project %q is in use: its %s data is held by %s, such as another `up` of its stack, its postgres or backend alone, or a wipe, snapshot or restore. Stop that first, or give this one another project (--project)",
		e.project, e.kind, by)
}

// takeLocks takes the lock of each kind in state, without waiting, and
// records this run as its holder. The files stay open (and locked) until
// the process ends.
func takeLocks(state, project, service string, kinds []string) ([]*os.File, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	dir := filepath.Join(state, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot make the project's lock folder: %v", err)
	}
	host, _ := os.Hostname()
	me := holder{Project: project, Service: service, Host: host, Since: time.Now().UTC().Format(time.RFC3339), PID: os.Getpid()}
	var held []*os.File
	for _, kind := range kinds {
		f, err := os.OpenFile(filepath.Join(dir, kind), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			closeAll(held)
			return nil, fmt.Errorf("cannot open the lock of %s: %v", kind, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			closeAll(held)
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("cannot lock %s: %v", kind, err)
			}
			e := inUseError{project: project, kind: kind}
			if text, err := os.ReadFile(filepath.Join(dir, kind+".holder")); err == nil && json.Unmarshal(text, &e.by) == nil {
				e.known = true
			}
			return nil, e
		}
		held = append(held, f)
		text, _ := json.Marshal(me)
		if err := writeFileAtomic(filepath.Join(dir, kind+".holder"), append(text, '\n'), 0o644); err != nil {
			closeAll(held)
			return nil, fmt.Errorf("cannot record the holder of %s: %v", kind, err)
		}
	}
	return held, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// writeFileAtomic writes a file whole or not at all: readers in other
// containers never see half of it. Writers of the same file at once each
// write their own temporary file: the supervisors of a Stack's containers
// all answer a stop in one result file, and their PIDs, each counted in
// its own container, are often the same number.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	var id [8]byte
	if err := randomBytes(id[:]); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%x.tmp", name, id)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// secretsLockWait is how long a run waits at most for another to finish
// with the secrets volume. A holder only reads and writes a few files, so
// the wait ends long before, however busy the machine: the limit is there
// so that a holder that hangs fails the run instead of keeping it waiting.
const secretsLockWait = 2 * time.Minute

// withSecrets runs f while holding the secrets volume's lock, so that runs
// at once make a password once and record folders without losing lines.
func withSecrets(dir string, f func() error) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the project's secrets volume: %v", err)
	}
	defer lock.Close()
	deadline := time.Now().Add(secretsLockWait)
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return fmt.Errorf("the project's secrets volume stayed locked for %s (%v)", secretsLockWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f()
}

// passwordAlphabet is what generated passwords are made of: nothing a URL
// or a shell needs escaped.
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// readPasswords returns the project's passwords of names: a given one
// (contract.GivenPasswordEnv), else the generated one in secrets, made
// the first time. folders are recorded there at the same time.
func readPasswords(secrets string, names, folders []string) (map[string]string, error) {
	pw := map[string]string{}
	var generated []string
	for _, name := range names {
		if given := os.Getenv(contract.GivenPasswordEnv(name)); given != "" {
			if strings.ContainsAny(given, "\n\r\x00") {
				return nil, fmt.Errorf("the %s password given to the module has a line break or NUL character: give one without (with-%s --password)", name, name)
			}
			pw[name] = given
			continue
		}
		generated = append(generated, name)
	}
	if secrets == "" {
		if len(generated) > 0 {
			return nil, fmt.Errorf("no password was given for %s, and the run has no secrets volume (--secrets) to keep a generated one in", strings.Join(generated, ", "))
		}
		return pw, nil
	}
	if len(names) == 0 && len(folders) == 0 {
		return pw, nil
	}
	err := withSecrets(secrets, func() error {
		for _, name := range names {
			source := "given"
			if slices.Contains(generated, name) {
				p, err := generatedPassword(filepath.Join(secrets, name))
				if err != nil {
					return fmt.Errorf("the project's %s password: %v", name, err)
				}
				pw[name], source = p, "generated"
			}
			// What urls says: which password the project runs with.
			if err := writeFileAtomic(filepath.Join(secrets, name+".source"), []byte(source+"\n"), 0o600); err != nil {
				return err
			}
		}
		return recordFolders(filepath.Join(secrets, "folders"), folders)
	})
	return pw, err
}

// generatedPassword reads the password in file, or makes one there.
func generatedPassword(file string) (string, error) {
	text, err := os.ReadFile(file)
	switch {
	case err == nil && len(text) == 32:
		return string(text), nil
	case err == nil && len(text) > 0:
		return "", fmt.Errorf("%s is damaged (%d characters, want 32): restore a snapshot of the project, or wipe it to make a new one", file, len(text))
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	b := make([]byte, 32)
	if err := randomBytes(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = passwordAlphabet[int(b[i])%len(passwordAlphabet)]
	}
	if err := writeFileAtomic(file, b, 0o600); err != nil {
		return "", err
	}
	return string(b), nil
}

// stackTokenFile is the file of the project's secrets volume with the
// token its Stack's reports carry.
const stackTokenFile = "stack-token"

// stackToken is the token of the project whose secrets volume is secrets,
// made there the first time: the Stack's front and members read the same
// one, and another project's services, which have another volume, cannot
// stop the Stack.
func stackToken(secrets string) (string, error) {
	var token string
	err := withSecrets(secrets, func() (err error) {
		token, err = generatedPassword(filepath.Join(secrets, stackTokenFile))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("the project's Stack token: %v", err)
	}
	return token, nil
}

// recordFolders adds the kinds of the persistent folders a run mounts to
// the list wipe and snapshot read.
func recordFolders(file string, folders []string) error {
	if len(folders) == 0 {
		return nil
	}
	text, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	known := strings.Fields(string(text))
	added := false
	for _, f := range folders {
		if !slices.Contains(known, f) {
			known = append(known, f)
			added = true
		}
	}
	if !added {
		return nil
	}
	return writeFileAtomic(file, []byte(strings.Join(known, "\n")+"\n"), 0o600)
}

// setEnv sets the run's variables in the supervisor's own environment, for
// the processes it starts (and its own waits), with the passwords in
// their values; it returns the values that must never show in the output.
func setEnv(env []contract.EnvVar, mask []string, pw map[string]string) ([]string, error) {
	var secrets []string
	for _, name := range mask {
		if v := os.Getenv(name); v != "" {
			secrets = append(secrets, v)
		}
	}
	for _, p := range pw {
		secrets = append(secrets, p, contract.EscapePassword(p))
	}
	for _, e := range env {
		v, err := contract.Expand(e.Value, pw)
		if err != nil {
			return nil, fmt.Errorf("--env %s: %v", e.Name, err)
		}
		if err := os.Setenv(e.Name, v); err != nil {
			return nil, err
		}
		if slices.Contains(mask, e.Name) && v != "" {
			secrets = append(secrets, v)
		}
	}
	return secrets, nil
}
