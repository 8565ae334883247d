package contract

import "time"

// States of a service, as the project's status shows them.
const (
	StateStarting   = "starting"
	StateReady      = "ready"
	StateUnhealthy  = "unhealthy"
	StateRestarting = "restarting"
	StateExited     = "exited"
	// StateGone is a service whose supervisor ended without a last word
	// (a SIGKILL, the engine's end of a session): its lock is free, and its
	// file still says it runs.
	StateGone = "gone"
)

// ServiceStatus is what a supervisor records of one of its processes in the
// project's state volume (services/NAME.json), and what status shows.
type ServiceStatus struct {
	Name    string `json:"name"`
	Project string `json:"project"`
	// State is one of the State constants; Since is when it became so,
	// and Detail says why, where there is something to say.
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Detail string    `json:"detail,omitempty"`
	// Started is when its process last started; Restarts counts the starts
	// after the first (Crashes those after a crash or a failed health
	// check, the others were asked for).
	Started  *time.Time `json:"started,omitempty"`
	Restarts int        `json:"restarts"`
	Crashes  int        `json:"crashes"`
	PID      int        `json:"pid,omitempty"`
	ExitCode *int       `json:"exit_code,omitempty"`
	// Port is the port it serves in the stack (0: none).
	Port int `json:"port,omitempty"`
	// HostPorts are the host ports `up` forwards to it, where known.
	HostPorts []int `json:"host_ports,omitempty"`
	// Health is the result of its last health check.
	Health *Health `json:"health,omitempty"`
	// Host is the container's host name; Run is when its run started.
	Host string `json:"host"`
	Run  string `json:"run"`
}

// Health is the result of a health check.
type Health struct {
	OK      bool      `json:"ok"`
	Checked time.Time `json:"checked"`
	Detail  string    `json:"detail,omitempty"`
	// Failures counts the failed checks in a row.
	Failures int `json:"failures"`
}

// Running says whether the state is one of a service that runs.
func Running(state string) bool {
	return state == StateStarting || state == StateReady || state == StateUnhealthy || state == StateRestarting
}

// Healthy says whether the service is ready and its last check, if any,
// passed.
func (s ServiceStatus) Healthy() bool {
	return s.State == StateReady && (s.Health == nil || s.Health.OK)
}
