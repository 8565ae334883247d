package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Requests to a running project (restart a service, stop the stack) go
// through its state volume, which every service of the project mounts and
// any session that opens the project can too: the asker writes
// requests/ID.json, the supervisor that runs the service named takes it,
// carries it out and writes requests/ID.result. Only who can open the
// project's volumes (as its passwords) can ask: another project's do not
// reach them.

// request is requests/ID.json.
type request struct {
	// Action is "restart" or "stop".
	Action  string    `json:"action"`
	Service string    `json:"service,omitempty"`
	At      time.Time `json:"at"`
}

// requestResult is requests/ID.result.
type requestResult struct {
	OK    bool   `json:"ok"`
	By    string `json:"by"`
	Error string `json:"error,omitempty"`
}

// stopAsked is the reason of a stop asked for (down, Ctrl-C under
// commandcenter up).
const stopAsked = "a stop was asked for (down)"

// requestPoll is how often a supervisor looks for requests where inotify
// does not tell it of them, requestPollWatched how often where it does (in
// case an event is lost), and requestAge how old a request may be before it
// is left alone.
const (
	requestPoll        = 100 * time.Millisecond
	requestPollWatched = 5 * time.Second
	requestAge         = time.Minute
)

// takeRequests watches state's requests folder for the requests this run
// carries out: restarts of the processes of names (sent to restarts), and
// a stop of the project, which every run of it carries out.
func takeRequests(state, who string, names []string, restarts chan<- restartRequest, stops chan<- string, done <-chan struct{}) {
	dir := filepath.Join(state, "requests")
	_ = os.MkdirAll(dir, 0o755)
	seen := map[string]bool{}
	wakes := requestWakes(dir, done)
	poll := requestPoll
	if wakes != nil {
		poll = requestPollWatched
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-done:
				return
			case <-tick.C:
			case <-wakes:
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			id, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			text, err := os.ReadFile(filepath.Join(dir, e.Name()))
			var r request
			if err != nil || json.Unmarshal(text, &r) != nil || time.Since(r.At) > requestAge {
				continue
			}
			result := filepath.Join(dir, id+".result")
			switch {
			case r.Action == "stop" && stops != nil:
				answer(result, who, nil)
				stop(stops, stopAsked)
			case r.Action == "restart" && slices.Contains(names, r.Service) && restarts != nil:
				go func() {
					reply := make(chan error, 1)
					select {
					case restarts <- restartRequest{name: r.Service, reply: reply}:
						answer(result, who, <-reply)
					case <-done:
						answer(result, who, errStopping)
					}
				}()
			}
		}
	}
}

func answer(file, who string, err error) {
	res := requestResult{OK: err == nil, By: who}
	if err != nil {
		res.Error = err.Error()
	}
	text, _ := json.Marshal(res)
	_ = writeFileAtomic(file, text, 0o644)
}

// ask writes a request in state and waits up to timeout for its first
// result. The request stays until withdraw is called: a stop is carried
// out by every run of the project, and those that have not seen it yet
// when the first answers must still find it.
func ask(state string, r request, timeout time.Duration) (res requestResult, withdraw func(), err error) {
	dir := filepath.Join(state, "requests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return requestResult{}, func() {}, err
	}
	id := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	r.At = time.Now().UTC()
	text, _ := json.Marshal(r)
	resultFile := filepath.Join(dir, id+".result")
	withdraw = func() {
		os.Remove(filepath.Join(dir, id+".json"))
		os.Remove(resultFile)
	}
	if err := writeFileAtomic(filepath.Join(dir, id+".json"), text, 0o644); err != nil {
		return requestResult{}, withdraw, err
	}
	res, err = waitResult(resultFile, r.Action, timeout)
	return res, withdraw, err
}

// waitResult waits up to timeout for the first result of a request.
func waitResult(resultFile, action string, timeout time.Duration) (requestResult, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		text, err := os.ReadFile(resultFile)
		if err == nil {
			var res requestResult
			if err := json.Unmarshal(text, &res); err != nil {
				return res, err
			}
			return res, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return requestResult{}, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return requestResult{}, fmt.Errorf("no service of the project took the %s request within %s", action, timeout)
}
