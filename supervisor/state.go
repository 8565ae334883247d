package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// Reading a project's state volume: what runs (status) and what it wrote
// (logs), for the module's functions and the control service, from any
// session of the engine.

// alive says whether the supervisor of service name still runs: it holds
// services/NAME.alive for as long as it does.
func alive(state, name string) bool {
	f, err := os.Open(filepath.Join(state, "services", name+".alive"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// readStatus reads the status of every service the project's state volume
// knows of, in name order; a service whose supervisor ended without a word
// is shown gone.
func readStatus(state string) ([]contract.ServiceStatus, error) {
	files, err := filepath.Glob(filepath.Join(state, "services", "*.json"))
	if err != nil {
		return nil, err
	}
	var all []contract.ServiceStatus
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var s contract.ServiceStatus
		if json.Unmarshal(text, &s) != nil || s.Name == "" {
			continue
		}
		if contract.Running(s.State) && !alive(state, s.Name) {
			s.Detail = fmt.Sprintf("its run ended without a word (was %s): the stack was stopped by its session's end or killed", s.State)
			s.State = contract.StateGone
		}
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return order(all[i].Name) < order(all[j].Name) })
	return all, nil
}

// order sorts the project's own services first, in the stack's order.
func order(name string) string {
	for i, n := range []string{"postgres", "redis", "backend", "frontend"} {
		if name == n {
			return fmt.Sprintf("%d", i)
		}
	}
	return "9" + name
}

// running are the services of all that run.
func running(all []contract.ServiceStatus) []contract.ServiceStatus {
	var out []contract.ServiceStatus
	for _, s := range all {
		if contract.Running(s.State) {
			out = append(out, s)
		}
	}
	return out
}

// statusText is the status as a table for people.
func statusText(project string, all []contract.ServiceStatus, now time.Time) string {
	var b strings.Builder
	if len(running(all)) == 0 {
		fmt.Fprintf(&b, "project %q: nothing runs\n", project)
		if len(all) == 0 {
			return b.String()
		}
		b.WriteString("last run:\n")
	}
	fmt.Fprintf(&b, "%-12s %-11s %-9s %-8s %-9s %-12s %s\n", "SERVICE", "STATE", "FOR", "RESTARTS", "PORT", "HOST PORTS", "HEALTH")
	for _, s := range all {
		state := s.State
		if s.ExitCode != nil && (s.State == contract.StateExited || s.State == contract.StateGone) {
			state = fmt.Sprintf("%s (%d)", s.State, *s.ExitCode)
		}
		port, hostPorts, health := "-", "-", "-"
		if s.Port != 0 {
			port = fmt.Sprint(s.Port)
		}
		if len(s.HostPorts) > 0 {
			var ps []string
			for _, p := range s.HostPorts {
				ps = append(ps, fmt.Sprint(p))
			}
			hostPorts = strings.Join(ps, ",")
		}
		if s.Health != nil && contract.Running(s.State) {
			health = "ok"
			if !s.Health.OK {
				health = fmt.Sprintf("failing (%d): %s", s.Health.Failures, s.Health.Detail)
			}
		}
		fmt.Fprintf(&b, "%-12s %-11s %-9s %-8d %-9s %-12s %s\n", s.Name, state, since(now, s.Since), s.Restarts, port, hostPorts, health)
		if s.Detail != "" && s.State != contract.StateReady {
			fmt.Fprintf(&b, "  %s\n", s.Detail)
		}
	}
	return b.String()
}

func since(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// logLine is a line of a service's log.
type logLine struct {
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Text    string    `json:"text"`
}

func (l logLine) String() string {
	return fmt.Sprintf("%s %s | %s", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), l.Service, l.Text)
}

// parseLogLine reads a line of a log file: TIME STREAM TEXT.
func parseLogLine(service, line string) (logLine, bool) {
	ts, rest, ok := strings.Cut(line, " ")
	stream, text, ok2 := strings.Cut(rest, " ")
	t, err := time.Parse(logTime, ts)
	if !ok || !ok2 || err != nil {
		return logLine{}, false
	}
	return logLine{Service: service, Time: t, Stream: stream, Text: text}, true
}

// logFiles are the files of a service's log, oldest first: the previous
// run's, or the current run's (its rotated part first).
func logFiles(state, service string, previous bool) []string {
	dir := filepath.Join(state, "logs")
	if previous {
		return []string{filepath.Join(dir, service+".previous.log")}
	}
	return []string{filepath.Join(dir, service+".log.1"), filepath.Join(dir, service+".log")}
}

// logServices are the services that have a log.
func logServices(state string) []string {
	files, _ := filepath.Glob(filepath.Join(state, "logs", "*.log"))
	var names []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".log")
		if !strings.HasSuffix(name, ".previous") {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	return names
}

// readLogs reads the lines of services' logs written since (zero: all),
// merged in time order, the last tail of them (0: all).
func readLogs(state string, services []string, since time.Time, tail int, previous bool) ([]logLine, error) {
	var all []logLine
	for _, s := range services {
		for _, f := range logFiles(state, s, previous) {
			file, err := os.Open(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(file)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if l, ok := parseLogLine(s, sc.Text()); ok && !l.Time.Before(since) {
					all = append(all, l)
				}
			}
			file.Close()
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	if tail > 0 && len(all) > tail {
		all = all[len(all)-tail:]
	}
	return all, nil
}

// follower reads the lines services' logs get from now on.
type follower struct {
	state    string
	services []string
	offsets  map[string]int64 // by file
	partial  map[string]string
}

func newFollower(state string, services []string) *follower {
	f := &follower{state: state, services: services, offsets: map[string]int64{}, partial: map[string]string{}}
	for _, s := range services {
		p := logFiles(state, s, false)[1]
		if info, err := os.Stat(p); err == nil {
			f.offsets[p] = info.Size()
		}
	}
	return f
}

// next returns the lines written since the last call.
func (f *follower) next() []logLine {
	var out []logLine
	for _, s := range f.services {
		p := logFiles(f.state, s, false)[1]
		info, err := os.Stat(p)
		if err != nil {
			continue
		}
		off := f.offsets[p]
		if info.Size() < off {
			// Rotated, or a new run: the new file from its start.
			off, f.partial[p] = 0, ""
		}
		if info.Size() == off {
			continue
		}
		file, err := os.Open(p)
		if err != nil {
			continue
		}
		if _, err := file.Seek(off, io.SeekStart); err == nil {
			b, _ := io.ReadAll(io.LimitReader(file, 8<<20))
			f.offsets[p] = off + int64(len(b))
			text := f.partial[p] + string(b)
			lines := strings.Split(text, "\n")
			f.partial[p] = lines[len(lines)-1]
			for _, line := range lines[:len(lines)-1] {
				if l, ok := parseLogLine(s, line); ok {
					out = append(out, l)
				}
			}
		}
		file.Close()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
