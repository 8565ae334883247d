package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
)

// A report is one line, "TOKEN NAME STATUS [WHY]": the Stack's token, the
// service that ended, its exit status, and why the supervisor stopped it
// when it did.

// takeReports reads the reports other services send to the control port and
// passes the first one that carries token on to stops. Any other is logged
// and ignored: a container on the engine's network that does not have the
// Stack's token cannot stop it.
func takeReports(l net.Listener, token string, stops chan<- string, logger *log.Logger) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
			name, status, why, ok := parseReport(line, token)
			if err != nil || !ok {
				logger.Printf("ignored a report from %s: not TOKEN NAME STATUS with the Stack's token", c.RemoteAddr())
				return
			}
			ended := fmt.Sprintf("%s ended (exit status %d)", name, status)
			if why != "" {
				ended = fmt.Sprintf("%s ended (exit status %d: %s)", name, status, why)
			}
			stop(stops, ended)
		}()
	}
}

// parseReport reads a report line; ok only with the right token.
func parseReport(line, token string) (name string, status int, why string, ok bool) {
	fields := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 4)
	if len(fields) < 3 || !sameSecret(fields[0], token) {
		return "", 0, "", false
	}
	status, err := strconv.Atoi(fields[2])
	if err != nil || !contract.NamePattern.MatchString(fields[1]) {
		return "", 0, "", false
	}
	if len(fields) == 4 {
		why = fields[3]
	}
	return fields[1], status, why, true
}

// tell reports to the front at addr that this service's command ended with
// status (and why, when the supervisor stopped it), trying for up to wait
// while the front starts.
func tell(addr, token, service string, status int, why string, wait time.Duration, logger *log.Logger) {
	// The front starts after its members: it may not listen yet.
	f := &forwarder{target: addr, wait: wait, log: logger,
		notYet: fmt.Sprintf("the Stack's front (%s) does not answer yet: telling it that %s ended when it does, for up to %s", addr, service, wait)}
	c, err := f.dial()
	if err == nil {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		report := fmt.Sprintf("%s %s %d", token, service, status)
		if why != "" {
			report += " " + strings.ReplaceAll(why, "\n", " ")
		}
		_, err = fmt.Fprintln(c, report)
		c.Close()
	}
	if err != nil {
		logger.Printf("could not tell the Stack's front (%s) that %s ended: %v", addr, service, err)
	}
}
