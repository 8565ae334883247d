package supervisor

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
)

// Wait targets (contract.WaitTarget): postgres://HOST:PORT is ready when
// it takes logins, not merely connections (Postgres accepts them while it
// starts up or recovers); redis://HOST:PORT when PING answers PONG after
// AUTH with the password of contract.RedisPasswordEnv (not LOADING while it
// loads its data); HOST:PORT when it accepts a connection. The Python
// launcher (entrypoints/launch.py) waits the same way for the backends the
// module builds; the supervisor does for images built from a Dockerfile,
// which may have no Python the module knows.

// errRefused is an answer that waiting longer cannot change (a wrong
// password).
var errRefused = errors.New("refused")

// waitAll waits for each target in turn, for timeout in all, and says
// which one was not ready, and what it last answered, when it gives up.
func waitAll(targets []contract.WaitTarget, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, w := range targets {
		for {
			ready, last := probe(w)
			if errors.Is(last, errRefused) {
				return fmt.Errorf("%s://%s: %v", w.Kind, w.Addr, last)
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s://%s was not ready within %s (%v)", w.Kind, w.Addr, timeout, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func probe(w contract.WaitTarget) (bool, error) {
	c, err := net.DialTimeout("tcp", w.Addr, 2*time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	switch w.Kind {
	case "postgres":
		return postgresReady(c)
	case "redis":
		return redisReady(c, os.Getenv(contract.RedisPasswordEnv))
	}
	return true, nil
}

// postgresReady sends a startup message: a server that is up asks for a
// password or refuses the made-up user; one that starts up, recovers or
// shuts down says 57P03.
func postgresReady(c net.Conn) (bool, error) {
	params := "user\x00commandcenter-supervisor\x00database\x00postgres\x00\x00"
	msg := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	msg = binary.BigEndian.AppendUint32(msg, 196608)
	if _, err := c.Write(append(msg, params...)); err != nil {
		return false, err
	}
	kind := make([]byte, 1)
	if _, err := io.ReadFull(c, kind); err != nil {
		return false, err
	}
	if kind[0] != 'E' {
		return true, nil
	}
	var length uint32
	if err := binary.Read(c, binary.BigEndian, &length); err != nil || length < 4 || length > 1<<16 {
		return false, fmt.Errorf("a malformed error message")
	}
	body := make([]byte, length-4)
	if _, err := io.ReadFull(c, body); err != nil {
		return false, err
	}
	var code, message string
	for _, f := range strings.Split(string(body), "\x00") {
		switch {
		case strings.HasPrefix(f, "C"):
			code = f[1:]
		case strings.HasPrefix(f, "M"):
			message = f[1:]
		}
	}
	if code == "57P03" {
		return false, errors.New(message)
	}
	return true, nil
}

// redisReady authenticates, then pings: Redis answers NOAUTH before
// anything else, so a PING without AUTH says nothing of its data.
func redisReady(c net.Conn, password string) (bool, error) {
	r := bufio.NewReader(c)
	send := func(args ...string) (string, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(c, b.String()); err != nil {
			return "", err
		}
		line, err := r.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	}
	if password != "" {
		reply, err := send("AUTH", password)
		if err != nil {
			return false, err
		}
		switch {
		case strings.HasPrefix(reply, "-WRONGPASS"), strings.HasPrefix(reply, "-ERR invalid password"):
			return false, fmt.Errorf("%w: it refused the password (AUTH): the service's Redis password is not the one Redis runs with", errRefused)
		case strings.HasPrefix(reply, "-LOADING"):
			return false, errors.New(reply[1:])
		}
	}
	reply, err := send("PING")
	if err != nil {
		return false, err
	}
	if strings.HasPrefix(reply, "-NOAUTH") {
		return false, fmt.Errorf("%w: it wants a password (NOAUTH), and "+contract.RedisPasswordEnv+" is empty", errRefused)
	}
	if reply != "+PONG" {
		return false, errors.New(strings.TrimLeft(reply, "+-"))
	}
	return true, nil
}

// waitNames waits until each host name resolves, for timeout in all: the
// Stack's members start at once, and a peer's name is known to the
// engine's DNS only once its container runs. It says which name it waits
// for, once, when the first try fails, and which one did not resolve when
// it gives up.
func waitNames(names []string, timeout time.Duration, say func(format string, v ...any)) error {
	deadline := time.Now().Add(timeout)
	said := false
	for _, name := range names {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := net.DefaultResolver.LookupHost(ctx, name)
			cancel()
			if err == nil {
				break
			}
			if !said {
				say("waiting for %s to resolve (a service of the Stack that is starting)", name)
				said = true
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the host name %s did not resolve within %s (%v)", name, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
