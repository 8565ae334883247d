package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// commandcenter, the host command: what docker compose's command does for
// a compose project, for a stack the Dagger engine runs. It drives `dagger
// call`, and talks to the project's services through the module's control
// service, which reads and asks the project's state volume:
//
//	commandcenter up [-d] [--watch] -- dagger call stack --src=. up --ports 15000:5432,...
//	commandcenter ps [--json]          what each service does
//	commandcenter logs [-f] [--tail N] [--since D] [SERVICE...]
//	commandcenter restart SERVICE
//	commandcenter down
//
// up runs the dagger command, and next to it the project's control
// service; it says when every service is ready, stops the stack cleanly on
// Ctrl-C (Postgres shuts down, Redis writes its data), and ends, naming the
// service and its last lines, when the stack ends, which Dagger's own `up`
// does not. With -d it returns once every service is ready, and goes on in
// the background, where down stops it.

// hostName is the host command's program name.
const hostName = "commandcenter"

// hostUsage is the host command's help.
const hostUsage = `usage: commandcenter COMMAND [options]

  up [-d] [--watch] [--timeout 10m] -- dagger call ... up --ports ...
                       run the stack; -d: in the background, once it is ready
  ps [--json]          what each service of the project does
  logs [-f] [--tail N] [--since D] [SERVICE...]
                       the services' output; -f: follow it
  restart SERVICE      restart one service of the running project
  down                 stop the running project cleanly
  restore [--from DIR] load a snapshot (default: the project's latest
                       automatic one) into the project, which has no data

Options of ps, logs, restart and down: -p PROJECT (default: the one this
machine last brought up, else commandcenter) and -m MODULE (the module
that up ran; default: as up ran it, else the one dagger finds here).
`

// runHost is the host command's main.
func runHost(args []string, stdout, stderr io.Writer) int {
	logger := log.New(stderr, hostName+": ", 0)
	if len(args) == 0 {
		fmt.Fprint(stderr, hostUsage)
		return 2
	}
	switch args[0] {
	case "up":
		return hostUp(args[1:], stdout, logger)
	case "ps", "status":
		return hostPs(args[1:], stdout, logger)
	case "logs":
		return hostLogs(args[1:], stdout, logger)
	case "restart":
		return hostAsk(args[1:], "restart", stdout, logger)
	case "down", "stop":
		return hostAsk(args[1:], "down", stdout, logger)
	case "restore":
		return hostRestore(args[1:], stdout, logger)
	case "watch":
		return runWatch(args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, hostUsage)
		return 0
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n%s", hostName, args[0], hostUsage)
	return 2
}

// runRecord is what this machine knows of a project it brought up: kept in
// the user's state folder, for the commands after up.
type runRecord struct {
	Project string         `json:"project"`
	Module  []string       `json:"module"` // dagger ... call --project=X
	PID     int            `json:"pid"`    // the up that runs it
	Ports   []string       `json:"ports"`  // HOST:CONTAINER
	Served  map[int]string `json:"served,omitempty"`
	State   string         `json:"state"` // starting, ready, ended
	Message string         `json:"message,omitempty"`
	Log     string         `json:"log,omitempty"` // a detached up's output
	// Control is the base URL of the control service up runs next to the
	// stack, and Token its token: ps, logs, restart and down ask it while
	// that up runs, instead of a dagger command of their own. The record
	// is the user's alone (0600).
	Control string `json:"control,omitempty"`
	Token   string `json:"token,omitempty"`
}

// runningControl is the control service of the up that runs project on
// this machine, as its record says, when it runs and no other module was
// named (-m): nil otherwise.
func runningControl(project string, pf projectFlags) *control {
	r, ok := runningUp(project)
	if pf.module != "" || !ok || r.Control == "" {
		return nil
	}
	return &control{base: r.Control, token: r.Token, client: &http.Client{}}
}

// runningUp is the record of the up that runs project on this machine,
// when one runs.
func runningUp(project string) (runRecord, bool) {
	r, ok := readRecord(project)
	return r, ok && r.State != "ended" && processAlive(r.PID)
}

// stateHome is the folder of the host command's records.
func stateHome() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, hostName)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), hostName)
	}
	return filepath.Join(home, ".local", "state", hostName)
}

func recordFile(project string) string {
	return filepath.Join(stateHome(), "projects", project+".json")
}

func readRecord(project string) (runRecord, bool) {
	text, err := os.ReadFile(recordFile(project))
	var r runRecord
	if err != nil || json.Unmarshal(text, &r) != nil {
		return r, false
	}
	return r, true
}

func writeRecord(r runRecord) {
	_ = os.MkdirAll(filepath.Dir(recordFile(r.Project)), 0o700)
	text, _ := json.MarshalIndent(r, "", "  ")
	_ = writeFileAtomic(recordFile(r.Project), append(text, '\n'), 0o600)
	_ = writeFileAtomic(filepath.Join(stateHome(), "last-project"), []byte(r.Project+"\n"), 0o600)
}

// projectFlags are -p and -m of the commands after up.
type projectFlags struct {
	project, module string
}

func (p *projectFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&p.project, "p", "", "the project (default: the one this machine last brought up)")
	fs.StringVar(&p.project, "project", "", "the project")
	fs.StringVar(&p.module, "m", "", "the module, as dagger -m takes it (default: as up ran it)")
}

// command is the dagger command line up to the module's first function.
func (p projectFlags) command() (project string, module []string) {
	project = p.project
	if project == "" {
		if text, err := os.ReadFile(filepath.Join(stateHome(), "last-project")); err == nil {
			project = strings.TrimSpace(string(text))
		}
		if project == "" {
			project = "commandcenter"
		}
	}
	if r, ok := readRecord(project); ok && p.module == "" && len(r.Module) > 0 {
		return project, r.Module
	}
	module = []string{"dagger"}
	if p.module != "" {
		module = append(module, "-m", p.module)
	}
	return project, append(module, "call", "--project="+project)
}

// daggerOutput runs a dagger command quietly and returns its output, or an
// error with what it said.
func daggerOutput(argv []string) (string, error) {
	argv = withSilent(argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return "", fmt.Errorf("cannot run %s (%v): install the dagger CLI, or put it on the PATH", argv[0], err)
	}
	if err != nil {
		said := strings.TrimSpace(errOut.String())
		if said == "" {
			said = fmt.Sprintf("%s ended with %v and said nothing", strings.Join(argv[:min(len(argv), 4)], " "), err)
		}
		// dagger's last lines say it; its trace id is no help here.
		said = strings.TrimSpace(strings.Split(said, " [traceparent:")[0])
		said = strings.TrimPrefix(said, "Error: ")
		return out.String(), errors.New(said)
	}
	return out.String(), nil
}

// withSilent is a dagger command line without its progress output.
func withSilent(argv []string) []string {
	if len(argv) > 0 && !slices.Contains(argv, "-s") && !slices.Contains(argv, "--silent") {
		return append([]string{argv[0], "-s"}, argv[1:]...)
	}
	return argv
}

// hostPs is ps: the status as JSON from the module, shown with the host
// ports this machine's up forwards.
func hostPs(args []string, stdout io.Writer, logger *log.Logger) int {
	fs := flag.NewFlagSet(hostName+" ps", flag.ContinueOnError)
	var pf projectFlags
	pf.define(fs)
	asJSON := fs.Bool("json", false, "answer JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	project, module := pf.command()
	var rep statusReport
	if ctl := runningControl(project, pf); ctl != nil {
		if r, err := ctl.status(); err == nil {
			rep = r
		}
	}
	if rep.Project == "" {
		out, err := daggerOutput(append(module, "status", "--format=json"))
		if err != nil {
			logger.Print(err)
			return 1
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			logger.Printf("the module's status is not JSON: %v", err)
			return 1
		}
	}
	if r, ok := readRecord(project); ok && r.State != "ended" && rep.Running {
		addHostPorts(rep.Services, r)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprint(stdout, statusText(project, rep.Services, time.Now()))
	}
	if !rep.Running {
		return exitNotRunning
	}
	return 0
}

// addHostPorts fills in the host ports r forwards to each service.
func addHostPorts(all []contract.ServiceStatus, r runRecord) {
	for i := range all {
		for _, p := range r.Ports {
			host, container, _ := strings.Cut(p, ":")
			c, _ := strconv.Atoi(container)
			h, _ := strconv.Atoi(host)
			if r.Served[c] == all[i].Name {
				all[i].HostPorts = append(all[i].HostPorts, h)
			}
		}
	}
}

// hostAsk is restart and down.
func hostAsk(args []string, what string, stdout io.Writer, logger *log.Logger) int {
	fs := flag.NewFlagSet(hostName+" "+what, flag.ContinueOnError)
	var pf projectFlags
	pf.define(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	project, module := pf.command()
	argv := append(module, what)
	path := "/stop"
	if what == "restart" {
		if fs.NArg() != 1 {
			logger.Print("restart: give the service to restart, such as: commandcenter restart backend")
			return 2
		}
		argv = append(argv, "--service="+fs.Arg(0))
		path = "/restart?" + url.Values{"service": {fs.Arg(0)}}.Encode()
	}
	// The up that runs the project here, if one does: down returns once it
	// has ended too, so that an up right after it starts the project again
	// (instead of finding it up already).
	up, upRuns := runningUp(project)
	upRuns = upRuns && pf.module == ""
	asked := false
	if ctl := runningControl(project, pf); ctl != nil {
		out, err := ctl.post(context.Background(), path)
		var refused *refusal
		switch {
		case err == nil:
			fmt.Fprint(stdout, out)
			asked = true
		case errors.As(err, &refused):
			logger.Print(err)
			return 1
		}
	}
	if !asked {
		out, err := daggerOutput(argv)
		if err != nil {
			logger.Print(err)
			return 1
		}
		fmt.Fprint(stdout, out)
	}
	if what == "down" && upRuns {
		return waitUpEnded(project, up.PID, upEndWait, logger)
	}
	return 0
}

// upEndWait is how long down waits for the project's up to end once the
// stack has stopped: it ends its dagger command (10 s at most), and takes
// the project's automatic snapshot (a dump of the database) when one is due.
const upEndWait = 2 * time.Minute

// waitUpEnded waits until process pid, the up of project, has ended, or
// wait has passed.
func waitUpEnded(project string, pid int, wait time.Duration, logger *log.Logger) int {
	start := time.Now()
	said := false
	for processAlive(pid) {
		if time.Since(start) > wait {
			logger.Printf("project %q stopped, and its commandcenter up (process %d) has not ended within %s: it may still be taking the project's snapshot; an up of the project starts once it has ended (kill %d ends it now, without the snapshot)", project, pid, wait, pid)
			return 1
		}
		if !said && time.Since(start) > time.Second {
			logger.Printf("waiting for commandcenter up (process %d) to end: it ends its dagger command, and takes the project's automatic snapshot when one is due", pid)
			said = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0
}

// hostLogs is logs: from the module, or followed through the control
// service.
func hostLogs(args []string, stdout io.Writer, logger *log.Logger) int {
	fs := flag.NewFlagSet(hostName+" logs", flag.ContinueOnError)
	var pf projectFlags
	pf.define(fs)
	follow := fs.Bool("f", false, "follow: show new lines as they are written, until Ctrl-C")
	tail := fs.Int("tail", 0, "the last lines only (0: all; with -f, 20)")
	since := fs.String("since", "", "lines written since: a duration ago (10m) or a time")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	project, module := pf.command()
	if !*follow {
		argv := append(module, "logs")
		for _, s := range fs.Args() {
			argv = append(argv, "--service="+s)
		}
		if *tail > 0 {
			argv = append(argv, "--tail="+strconv.Itoa(*tail))
		}
		if *since != "" {
			argv = append(argv, "--since="+*since)
		}
		out, err := daggerOutput(argv)
		if err != nil {
			logger.Print(err)
			return 1
		}
		fmt.Fprint(stdout, out)
		return 0
	}
	if *tail == 0 && *since == "" {
		*tail = 20
	}
	ctl := runningControl(project, pf)
	if ctl == nil {
		var err error
		if ctl, err = startControl(module, logger); err != nil {
			logger.Print(err)
			return 1
		}
		defer ctl.stop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
	}()
	if err := ctl.waitReady(ctx, 2*time.Minute); err != nil {
		logger.Print(err)
		return 1
	}
	q := url.Values{"follow": {"1"}, "service": fs.Args()}
	if *tail > 0 {
		q.Set("tail", strconv.Itoa(*tail))
	}
	if *since != "" {
		q.Set("since", *since)
	}
	res, err := ctl.get(ctx, "/logs?"+q.Encode())
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		logger.Print(err)
		return 1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		logger.Printf("project %q: %s", project, strings.TrimSpace(string(b)))
		return 1
	}
	_, _ = io.Copy(stdout, res.Body)
	return 0
}

// control is the project's control service, which a dagger command of
// its own runs and forwards to a port of this machine.
type control struct {
	cmd    *exec.Cmd
	base   string
	token  string
	client *http.Client
	exited chan struct{}
	// said is what its dagger command wrote, to read once it has exited.
	said *strings.Builder
}

// startControl starts the project's control service of module (dagger ...
// call --project=X) on a free port of this machine, with a token made for
// it.
func startControl(module []string, logger *log.Logger) (*control, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := withSilent(append(slices.Clone(module), "control", "--token=env:"+contract.ControlTokenEnv,
		"up", "--ports", fmt.Sprintf("%d:%d", port, contract.ControlServicePort)))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), contract.ControlTokenEnv+"="+token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	said := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = io.Discard, said
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot run %s: %v", argv[0], err)
	}
	c := &control{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), token: token,
		client: &http.Client{}, exited: make(chan struct{}), said: said}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// waitReady waits until the control service answers.
func (c *control) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/status", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		res, err := c.client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the project's control service did not start: %s", strings.TrimSpace(c.said.String()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the project's control service did not answer within %s", timeout)
		}
	}
}

func (c *control) get(ctx context.Context, p string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+p, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.client.Do(req)
}

func (c *control) post(ctx context.Context, p string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+p, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", &refusal{strings.TrimSpace(string(b))}
	}
	return string(b), nil
}

// refusal is the control service's answer to a request it did not carry
// out, as it said it.
type refusal struct{ said string }

func (r *refusal) Error() string { return r.said }

// stop ends the control service's dagger command.
func (c *control) stop() {
	if c == nil {
		return
	}
	endGroup(c.cmd, c.exited, 5*time.Second)
}

// endGroup ends a command started in a process group of its own: SIGINT
// (dagger ends its session), then SIGKILL after grace.
func endGroup(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// lastLines is the end of what a service wrote, for a message.
func (c *control) lastLines(service string, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.get(ctx, fmt.Sprintf("/logs?service=%s&tail=%d", url.QueryEscape(service), n))
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// cause says why a stack ended, from its last status: the service whose
// end ended it (the front names it), its exit status and its last lines;
// asked is true when a stop was asked for (down, Ctrl-C).
func (c *control) cause(rep statusReport) (why string, asked bool) {
	root := ""
	for _, s := range rep.Services {
		if strings.Contains(s.Detail, "a stop was asked for") {
			return "", true
		}
		if name, _, ok := strings.Cut(s.Detail, " ended ("); ok && !strings.Contains(name, " ") && root == "" {
			root = name
		}
	}
	var end *contract.ServiceStatus
	for i, s := range rep.Services {
		if s.Name == root {
			end = &rep.Services[i]
		}
	}
	if end == nil {
		// No word from the front: the first that ended without one.
		sort.SliceStable(rep.Services, func(i, j int) bool { return rep.Services[i].Since.Before(rep.Services[j].Since) })
		for i, s := range rep.Services {
			if s.State == contract.StateGone || s.ExitCode != nil && *s.ExitCode != 0 {
				end = &rep.Services[i]
				break
			}
		}
	}
	if end == nil {
		return "the stack ended", false
	}
	var b strings.Builder
	code := "no exit status: its container was killed"
	if end.ExitCode != nil {
		code = fmt.Sprintf("exit status %d", *end.ExitCode)
	}
	fmt.Fprintf(&b, "%s ended (%s)", end.Name, code)
	if end.Detail != "" {
		fmt.Fprintf(&b, ": %s", end.Detail)
	}
	b.WriteString("\n")
	if lines := c.lastLines(end.Name, 15); lines != "" {
		fmt.Fprintf(&b, "its last lines:\n%s", indent(lines))
	}
	return b.String(), false
}

func indent(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		b.WriteString("  " + sc.Text() + "\n")
	}
	return b.String()
}
