package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"dagger/commandcenter/internal/contract"
)

// forwarder sends the connections of one listener to its target.
type forwarder struct {
	target string
	wait   time.Duration
	log    *log.Logger
	// notYet, for dials of a report, is all that is said of them: once,
	// when the first dial fails, instead of the lines of a connection's.
	notYet string

	mu      sync.Mutex
	waiting bool // the last dial failed: said once, until one works again

	// onDial, when set, hears how each dial of open went, before open
	// acts on it (tests watch the route's port between dials with it).
	onDial func(error)
}

// dialed notes how a dial went, and says so when the target stops or starts
// answering, once each time.
func (f *forwarder) dialed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.notYet != "":
		if err != nil && !f.waiting {
			f.log.Print(f.notYet)
		}
	case err != nil && !f.waiting:
		f.log.Printf("%s does not answer (yet): %v; connections wait for it up to %s", f.target, err, f.wait)
	case err == nil && f.waiting:
		f.log.Printf("%s answers", f.target)
	}
	f.waiting = err != nil
}

func listenRoute(r contract.Route) (net.Listener, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(r.Port))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on port %d for %s: %v (another process in the container has it: route a free port)", r.Port, r.Target, err)
	}
	return l, nil
}

// open listens on the route's port once its target answers, and forwards
// from then on. Until then the port is closed: a client, or the engine's
// health check of the service, sees it open only when there is something
// behind it. A target that does not answer within timeout, or a port that
// cannot be opened then, is reported on stops.
//
// The first dial that fails is said ("opens when ... answers"): from then
// on the port stays closed until a dial works.
func (f *forwarder) open(r contract.Route, timeout time.Duration, stops chan<- string) {
	deadline := time.Now().Add(timeout)
	for first := true; ; first = false {
		c, err := net.DialTimeout("tcp", r.Target, time.Second)
		if f.onDial != nil {
			f.onDial(err)
		}
		if err == nil {
			c.Close()
			break
		}
		if first {
			f.log.Printf("port %d -> %s: opens when %s answers", r.Port, r.Target, r.Target)
		}
		if time.Now().After(deadline) {
			stop(stops, fmt.Sprintf("%s did not answer within %s (port %d): its log above says why", r.Target, timeout, r.Port))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	l, err := listenRoute(r)
	if err != nil {
		stop(stops, err.Error())
		return
	}
	f.log.Printf("port %d -> %s: open", r.Port, r.Target)
	f.serve(l)
}

func (f *forwarder) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: the next accept may work.
			f.log.Printf("accept on %s: %v", l.Addr(), err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go f.handle(c.(*net.TCPConn))
	}
}

func (f *forwarder) handle(client *net.TCPConn) {
	upstream, err := f.dial()
	if err != nil {
		f.log.Printf("%s did not answer within %s, closed the connection from %s: %v", f.target, f.wait, client.RemoteAddr(), err)
		client.Close()
		return
	}
	pipe(client, upstream)
}

// dialRetryMax is the longest pause between two dials of a target that
// does not answer. A connection waits while its target restarts (live
// reload, `restart`): a longer pause would hold it past the target's
// return by up to that much, where a dial that is refused costs next to
// nothing.
const dialRetryMax = 100 * time.Millisecond

// dialDelays are the pauses between the dials of a target that does not
// answer: from 20 ms, doubling, up to dialRetryMax.
func dialDelays() func() time.Duration {
	delay := 10 * time.Millisecond
	return func() time.Duration {
		delay = min(2*delay, dialRetryMax)
		return delay
	}
}

// dial connects to the target, trying again until it answers or wait has
// passed: it may still be starting, or not yet have its name in DNS.
func (f *forwarder) dial() (*net.TCPConn, error) {
	deadline := time.Now().Add(f.wait)
	next := dialDelays()
	for {
		left := time.Until(deadline)
		c, err := net.DialTimeout("tcp", f.target, min(left, 5*time.Second))
		f.dialed(err)
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		delay := next()
		if time.Until(deadline) < delay {
			return nil, err
		}
		time.Sleep(delay)
	}
}

// pipe copies both ways between a and b until both sides have finished
// sending, passing on each side's end of stream; an error on either way
// closes both.
func pipe(a, b *net.TCPConn) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	oneWay := func(dst, src *net.TCPConn) {
		defer wg.Done()
		// TCPConn to TCPConn copies with splice(2): the bytes stay in the kernel.
		if _, err := io.Copy(dst, src); err != nil {
			closeBoth()
			return
		}
		_ = dst.CloseWrite()
	}
	go oneWay(a, b)
	go oneWay(b, a)
	wg.Wait()
	closeBoth()
}
