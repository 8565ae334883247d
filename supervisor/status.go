package supervisor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// What runs, as the project's status reads it: each supervisor keeps a
// file for each of its processes in the state volume
// (services/NAME.json, contract.ServiceStatus), written at each change and
// each health check, and holds a lock on services/NAME.alive while it runs.
// A file whose lock is free is a service whose run has ended, however it
// ended (a SIGKILL writes no last word): the status says so rather than
// trusting the file.

// States of a service.
const (
	stateStarting   = contract.StateStarting
	stateReady      = contract.StateReady
	stateUnhealthy  = contract.StateUnhealthy
	stateRestarting = contract.StateRestarting
	stateExited     = contract.StateExited
)

// recorder writes the status of a run's processes. Its methods do nothing
// on a nil recorder (a run without a state volume).
type recorder struct {
	mu      sync.Mutex
	dir     string
	project string
	host    string
	run     string
	all     map[string]*contract.ServiceStatus
	alive   []*os.File
}

// newRecorder records the processes of names (the command's first) in the
// state folder, as starting; it takes their alive locks.
func newRecorder(state, project string, names []string, ports map[string]int) (*recorder, error) {
	if state == "" {
		return nil, nil
	}
	dir := filepath.Join(state, "services")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	r := &recorder{dir: dir, project: project, host: host, all: map[string]*contract.ServiceStatus{},
		run: time.Now().UTC().Format(time.RFC3339Nano)}
	now := time.Now().UTC()
	for _, name := range names {
		f, err := os.OpenFile(filepath.Join(dir, name+".alive"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		// Another run of this service would hold it: the project's data
		// locks keep two runs of a stack apart, so this is a service of its
		// own (a lone backend): wait for nothing, and record anyway.
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		r.alive = append(r.alive, f)
		r.all[name] = &contract.ServiceStatus{Name: name, Project: project, Host: host, State: stateStarting,
			Since: now, Run: r.run, Port: ports[name]}
		r.writeLocked(name)
	}
	return r, nil
}

func (r *recorder) update(name string, f func(s *contract.ServiceStatus)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.all[name]
	if s == nil {
		return
	}
	f(s)
	r.writeLocked(name)
}

func (r *recorder) writeLocked(name string) {
	text, err := json.MarshalIndent(r.all[name], "", "  ")
	if err != nil {
		return
	}
	_ = writeFileAtomic(filepath.Join(r.dir, name+".json"), append(text, '\n'), 0o644)
}

// set changes a process's state, with a word on why.
func (r *recorder) set(name, state, detail string) {
	r.update(name, func(s *contract.ServiceStatus) {
		if s.State != state {
			s.State, s.Since = state, time.Now().UTC()
		}
		s.Detail = detail
	})
}

// started records a process's start.
func (r *recorder) started(name string, pid int) {
	r.update(name, func(s *contract.ServiceStatus) {
		now := time.Now().UTC()
		s.Started, s.PID, s.ExitCode = &now, pid, nil
	})
}

// restarted records a start after the first: after a crash (counted), or
// asked for.
func (r *recorder) restarted(name string, pid int, crash bool) {
	r.update(name, func(s *contract.ServiceStatus) {
		now := time.Now().UTC()
		s.Started, s.PID, s.ExitCode = &now, pid, nil
		s.Restarts++
		if crash {
			s.Crashes++
		}
		s.State, s.Since, s.Detail = stateStarting, now, ""
	})
}

// exited records the end of a process.
func (r *recorder) exited(name string, code int, why string) {
	r.update(name, func(s *contract.ServiceStatus) {
		c := code
		s.ExitCode = &c
		s.State, s.Since, s.Detail = stateExited, time.Now().UTC(), why
	})
}

// checked records a health check's result: a pass makes a starting
// process (one that has no port to be ready by) or an unhealthy one ready,
// retries failures in a row make a ready one unhealthy once a check has
// passed (passed).
func (r *recorder) checked(name string, ok, passed bool, detail string, failures, retries int) {
	r.update(name, func(s *contract.ServiceStatus) {
		now := time.Now().UTC()
		s.Health = &contract.Health{OK: ok, Checked: now, Detail: detail, Failures: failures}
		switch {
		case !ok && passed && failures >= retries && s.State == stateReady:
			s.State, s.Since = stateUnhealthy, now
		case ok && (s.State == stateUnhealthy || s.State == stateStarting):
			s.State, s.Since, s.Detail = stateReady, now, ""
		}
	})
}

// names are the processes recorded.
func (r *recorder) state(name string) string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.all[name]; s != nil {
		return s.State
	}
	return ""
}
