// Package minihttp is the small part of HTTP/1.1 that the supervisor's own
// ports speak (its control service, the sync port, health checks of an
// app's HTTP path): one request a connection, bodies with a length, or
// chunked, or up to the connection's end.
//
// It exists so that the supervisor, which runs in every service's container
// and is compiled by the engine before a project first starts, leaves out
// net/http and the TLS stack it brings: that halves the supervisor's
// compile, the largest part of a first start. Its peers are ordinary HTTP
// clients and servers (curl, Go's net/http, uvicorn), which its tests use.
package minihttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Header holds a message's header fields, one value each, under their
// lower-case names.
type Header map[string]string

// Get returns the value of the field name (any case).
func (h Header) Get(name string) string { return h[strings.ToLower(name)] }

// Set sets the field name (any case) to value.
func (h Header) Set(name, value string) { h[strings.ToLower(name)] = value }

// Request is a request a Server took.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header Header
	// Body is the request's body, exactly its length.
	Body io.Reader
	ctx  context.Context
}

// Context is done once the client closed its connection (or the server
// closed).
func (r *Request) Context() context.Context { return r.ctx }

// Handler answers a request.
type Handler func(w *ResponseWriter, r *Request)

// maxHeader is the most a request's or a response's head may take.
const maxHeader = 64 << 10

// Server serves a Handler, a request a connection.
type Server struct {
	Handler Handler
	// HeaderTimeout is how long a client has to send a request's head
	// (10 s when zero).
	HeaderTimeout time.Duration

	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]struct{}
	closed bool
}

// ErrServerClosed is what Serve returns after Close.
var ErrServerClosed = errors.New("minihttp: server closed")

// Serve takes connections from l until Close, or until l fails.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.l = l
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops Serve and closes every open connection.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	if s.l != nil {
		err = s.l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	return err
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	timeout := s.HeaderTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	br := bufio.NewReader(c)
	w := &ResponseWriter{w: bufio.NewWriter(c), header: Header{}}
	req, err := readRequest(br)
	if err != nil {
		w.status = 400
		var he *headError
		if errors.As(err, &he) && he.status != 0 {
			w.status = he.status
		}
		if !errors.Is(err, io.EOF) {
			Error(w, err.Error(), w.status)
			w.finish()
		}
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		_, _ = w.w.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		_ = w.w.Flush()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req.ctx = ctx
	// Once the handler has read the body, what else comes from the client
	// is its end: it closed the connection, and a stream for it can stop.
	body := &watchedBody{r: req.Body, conn: br, cancel: cancel}
	req.Body = body
	if _, none := body.r.(noBody); none {
		body.watch() // the client has sent all it sends
	}
	s.Handler(w, req)
	w.finish()
	if !body.watching.Load() {
		// The handler answered without reading the whole body (a
		// refusal): the answer is complete, and what the client still
		// sends is read and dropped, for a while, so that closing the
		// connection does not reset it before the client reads the answer.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.CopyN(io.Discard, body.r, 64<<20)
	}
}

// watchedBody is a request's body that, once read to its end, watches the
// connection for the client closing it.
type watchedBody struct {
	r        io.Reader
	conn     *bufio.Reader
	cancel   func()
	watched  sync.Once
	watching atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.watch()
	}
	return n, err
}

func (b *watchedBody) watch() {
	b.watched.Do(func() {
		b.watching.Store(true)
		go func() {
			_, _ = io.Copy(io.Discard, b.conn)
			b.cancel()
		}()
	})
}

// headError is a request that cannot be served, with the status to answer.
type headError struct {
	status int
	msg    string
}

func (e *headError) Error() string { return e.msg }

func readRequest(br *bufio.Reader) (*Request, error) {
	line, h, err := readHead(br)
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !strings.HasPrefix(proto, "HTTP/1.") || method == "" || !strings.HasPrefix(target, "/") {
		return nil, &headError{400, fmt.Sprintf("not an HTTP/1.1 request line: %q", line)}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, &headError{400, fmt.Sprintf("request target %q: %v", target, err)}
	}
	body, err := bodyOf(br, h, true)
	if err != nil {
		return nil, err
	}
	return &Request{Method: method, Path: u.Path, Query: u.Query(), Header: h, Body: body}, nil
}

// readHead reads a message's first line and its header fields.
func readHead(br *bufio.Reader) (string, Header, error) {
	h := Header{}
	size := 0
	first := ""
	for n := 0; ; n++ {
		line, err := br.ReadString('\n')
		size += len(line)
		if size > maxHeader {
			return "", nil, &headError{431, "the head is larger than 64 KB"}
		}
		if err != nil {
			if n == 0 && line == "" && err == io.EOF {
				return "", nil, io.EOF
			}
			return "", nil, fmt.Errorf("the head ends early: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if n == 0 {
			first = line
			continue
		}
		if line == "" {
			return first, h, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return "", nil, &headError{400, fmt.Sprintf("not a header field: %q", line)}
		}
		h.Set(k, strings.TrimSpace(v))
	}
}

// bodyOf is the body that follows a head: its Content-Length, chunked, or
// (a response's only) up to the end.
func bodyOf(br *bufio.Reader, h Header, request bool) (io.Reader, error) {
	if te := h.Get("Transfer-Encoding"); te != "" {
		if !strings.EqualFold(te, "chunked") {
			return nil, &headError{501, fmt.Sprintf("Transfer-Encoding %q: only chunked is taken", te)}
		}
		return &chunkedReader{br: br}, nil
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return nil, &headError{400, fmt.Sprintf("Content-Length %q is not a length", cl)}
		}
		if n == 0 {
			return noBody{}, nil
		}
		return io.LimitReader(br, n), nil
	}
	if request {
		return noBody{}, nil
	}
	return br, nil
}

// noBody is the body of a message that has none.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }

// chunkedReader reads a chunked body.
type chunkedReader struct {
	br   *bufio.Reader
	left int64
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("chunked body: bad chunk size %q", size)
		}
		if n == 0 {
			// The trailer, up to its blank line.
			for {
				t, err := c.br.ReadString('\n')
				if err != nil {
					return 0, io.ErrUnexpectedEOF
				}
				if strings.TrimRight(t, "\r\n") == "" {
					break
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		// The chunk's CRLF.
		if _, err := c.br.Discard(2); err != nil {
			return n, io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ResponseWriter writes a Handler's answer. What it is given before the
// handler returns or calls Flush goes out in one answer with its length;
// after a Flush the body streams until the connection closes.
type ResponseWriter struct {
	w         *bufio.Writer
	header    Header
	status    int
	body      []byte
	streaming bool
	err       error
}

// Header is the answer's header, to set before the body is written.
func (w *ResponseWriter) Header() Header { return w.header }

// WriteHeader sets the answer's status (200 unless set).
func (w *ResponseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// Write adds to the body.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.streaming {
		w.body = append(w.body, p...)
		return len(p), nil
	}
	if _, err := w.w.Write(p); err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// Flush sends what was written: the head, and from then on the body as it
// comes.
func (w *ResponseWriter) Flush() {
	if !w.streaming {
		w.streaming = true
		w.writeHead(-1)
		_, _ = w.w.Write(w.body)
		w.body = nil
	}
	if err := w.w.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

func (w *ResponseWriter) writeHead(length int) {
	if w.status == 0 {
		w.status = 200
	}
	fmt.Fprintf(w.w, "HTTP/1.1 %d %s\r\n", w.status, StatusText(w.status))
	if length >= 0 {
		w.header.Set("Content-Length", strconv.Itoa(length))
	}
	w.header.Set("Connection", "close")
	if w.header.Get("Content-Type") == "" && length != 0 {
		w.header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	for k, v := range w.header {
		fmt.Fprintf(w.w, "%s: %s\r\n", k, v)
	}
	_, _ = w.w.WriteString("\r\n")
}

func (w *ResponseWriter) finish() {
	if !w.streaming {
		w.writeHead(len(w.body))
		_, _ = w.w.Write(w.body)
	}
	_ = w.w.Flush()
}

// Error answers code with msg as plain text.
func Error(w *ResponseWriter, msg string, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// StatusText is the reason phrase of the codes this package's users answer.
func StatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 409:
		return "Conflict"
	case 413:
		return "Request Entity Too Large"
	case 422:
		return "Unprocessable Entity"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	}
	return "Status " + strconv.Itoa(code)
}

// Response is an answer Do got.
type Response struct {
	StatusCode int
	// Status is the status line's code and reason, such as "404 Not Found".
	Status string
	Header Header
	// Body is the answer's body; Close closes the connection.
	Body io.ReadCloser
}

// Do sends a request to rawURL (http://HOST:PORT/PATH?QUERY) with header
// and body, and reads the answer's head. The whole exchange, the body's
// reading included, must end within timeout and while ctx is not done.
func Do(ctx context.Context, method, rawURL string, header Header, body []byte, timeout time.Duration) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("%s: give an http://HOST:PORT/PATH address", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	fail := func(err error) (*Response, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, u.RequestURI(), u.Host)
	for k, v := range header {
		fmt.Fprintf(bw, "%s: %s\r\n", k, v)
	}
	if body != nil || method == "POST" || method == "PUT" {
		fmt.Fprintf(bw, "Content-Length: %d\r\n", len(body))
	}
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(body)
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(c)
	line, h, err := readHead(br)
	for err == nil && strings.HasPrefix(line, "HTTP/1.1 1") {
		line, h, err = readHead(br) // 1xx: the answer follows
	}
	if err != nil {
		return fail(err)
	}
	proto, status, _ := strings.Cut(line, " ")
	code, cerr := strconv.Atoi(strings.SplitN(status, " ", 2)[0])
	if !strings.HasPrefix(proto, "HTTP/1.") || cerr != nil {
		return fail(fmt.Errorf("not an HTTP/1.x status line: %q", line))
	}
	var rb io.Reader = noBody{}
	if method != "HEAD" && code != 204 && code != 304 {
		if rb, err = bodyOf(br, h, false); err != nil {
			return fail(err)
		}
	}
	return &Response{StatusCode: code, Status: status, Header: h, Body: &connBody{r: rb, c: c, stop: stop}}, nil
}

// connBody is a response's body; closing it closes its connection.
type connBody struct {
	r    io.Reader
	c    net.Conn
	stop func() bool
}

func (b *connBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *connBody) Close() error {
	b.stop()
	return b.c.Close()
}
