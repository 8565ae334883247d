package minihttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serve serves h on a loopback port until the test ends.
func serve(t *testing.T, h Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
		}
	})
	return "http://" + l.Addr().String()
}

// echo answers with what it was asked: method, path, a query value, a
// header and the body.
func echo(w *ResponseWriter, r *Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		Error(w, err.Error(), 400)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	fmt.Fprintf(w, "%s %s q=%s auth=%s body=%s", r.Method, r.Path, r.Query.Get("q"), r.Header.Get("authorization"), body)
}

// Go's own HTTP client (as the host command, the watcher and curl-like
// clients are) reads the server's answers, with and without a body.
func TestServerAnswersGosClient(t *testing.T) {
	base := serve(t, echo)
	for _, body := range []string{"", "hello", strings.Repeat("x", 1<<20)} {
		req, err := http.NewRequest("POST", base+"/sync/backend?q=a%20b", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer tok")
		res, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := "POST /sync/backend q=a b auth=Bearer tok body=" + body
		if res.StatusCode != 201 || string(got) != want || res.Header.Get("Content-Type") != "application/json" || res.ContentLength != int64(len(want)) {
			t.Errorf("answer %d %.80q (length %d, %q), want 201 %.80q (length %d)", res.StatusCode, got, res.ContentLength, res.Header.Get("Content-Type"), want, len(want))
		}
	}
}

// A body sent chunked (a client that does not know its length) and one
// sent after 100 Continue are read whole.
func TestServerReadsChunkedAndExpectContinueBodies(t *testing.T) {
	var te string
	base := serve(t, func(w *ResponseWriter, r *Request) {
		te = r.Header.Get("Transfer-Encoding")
		echo(w, r)
	})
	pr, pw := io.Pipe()
	go func() {
		for _, s := range []string{"one ", "two ", "three"} {
			pw.Write([]byte(s))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", base+"/p", pr)
	res, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := "POST /p q= auth= body=one two three"; string(got) != want || te != "chunked" {
		t.Errorf("chunked body: %q (Transfer-Encoding %q), want %q, chunked", got, te, want)
	}

	// A client that waits for 100 Continue before it sends the body (as
	// curl does with a large one) gets it.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute)) // a server that waits for the body does not answer
	io.WriteString(c, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("after a head with Expect: 100-continue: %q %v, want HTTP/1.1 100 Continue", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "after continue")
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	if want := "POST /p q= auth= body=after continue"; string(got) != want {
		t.Errorf("body after 100 Continue: %q, want %q", got, want)
	}
}

// A stream (logs -f, events) reaches the client as it is flushed, and its
// handler learns that the client went away.
func TestStreamsFlushAndSeeTheClientLeave(t *testing.T) {
	// Go's client sends no Content-Length on a GET; other clients send
	// one of zero, spelled as they like.
	for _, head := range []string{"", "Content-Length: 0\r\n", "Content-Length: 00\r\n"} {
		left := make(chan struct{})
		base := serve(t, func(w *ResponseWriter, r *Request) {
			defer close(left)
			for i := 0; ; i++ {
				fmt.Fprintf(w, "line %d\n", i)
				w.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
		var stream io.ReadCloser
		if head == "" {
			res, err := (&http.Client{Timeout: time.Minute}).Get(base + "/events")
			if err != nil {
				t.Fatal(err)
			}
			stream = res.Body
		} else {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(time.Minute))
			if _, err := io.WriteString(c, "GET /events HTTP/1.1\r\nHost: x\r\n"+head+"\r\n"); err != nil {
				t.Fatal(err)
			}
			stream = c
		}
		br := bufio.NewReader(stream)
		if head != "" {
			// The raw connection reads the answer's head first.
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%q: the answer's head: %v", head, err)
				}
				if line == "\r\n" {
					break
				}
			}
		}
		for i := 0; i < 3; i++ {
			line, err := br.ReadString('\n')
			if want := fmt.Sprintf("line %d\n", i); err != nil || line != want {
				t.Fatalf("%q: line %d of the stream: %q %v, want %q", head, i, line, err, want)
			}
		}
		stream.Close()
		select {
		case <-left:
		case <-time.After(time.Minute):
			t.Fatalf("%q: the stream's handler went on a minute after its client closed the connection", head)
		}
	}
}

// Bad requests are answered with what is wrong, not served.
func TestServerRefusesBadRequests(t *testing.T) {
	served := false
	base := serve(t, func(w *ResponseWriter, r *Request) { served = true })
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		req  string
		want string
	}{
		{"NONSENSE\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /x HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /x HTTP/1.1\r\nBig: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "HTTP/1.1 431 "},
		{"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 "},
		{"POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n", "HTTP/1.1 400 "},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		go io.WriteString(c, tc.req)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, tc.want) {
			t.Errorf("%.40q: answered %q %v, want %q", tc.req, line, err, tc.want)
		}
	}
	if served {
		t.Error("a bad request reached the handler")
	}
}

// Do talks to Go's own server (an app's health path, a member's sync
// port): answers with a length, chunked, and up to the connection's end.
func TestDoReadsGosServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/length":
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RawQuery, r.Header.Get("Authorization"), body)
		case "/chunked":
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part %d;", i)
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			hj, _ := w.(http.Hijacker)
			c, buf, _ := hj.Hijack()
			buf.WriteString("HTTP/1.1 503 Service Unavailable\r\n\r\nuntil the end")
			buf.Flush()
			c.Close()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		body         []byte
		code         int
		want         string
	}{
		{"POST", "/length?a=1", []byte(`{"x":1}`), 200, `POST a=1 Bearer t {"x":1}`},
		{"GET", "/chunked", nil, 200, "part 0;part 1;part 2;"},
		{"GET", "/close", nil, 503, "until the end"},
		{"GET", "/health", nil, 404, "404 page not found\n"},
	} {
		res, err := Do(context.Background(), tc.method, srv.URL+tc.path, Header{"authorization": "Bearer t"}, tc.body, 10*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != tc.code || string(got) != tc.want {
			t.Errorf("%s %s: %d %q %v, want %d %q", tc.method, tc.path, res.StatusCode, got, err, tc.code, tc.want)
		}
	}
	if res, err := Do(context.Background(), "GET", srv.URL+"/close", nil, nil, 10*time.Second); err != nil || res.Status != "503 Service Unavailable" {
		t.Errorf("status: %v %v, want 503 Service Unavailable", res, err)
	}
}

// Do gives up when its time is up, or its context is done, and says so.
func TestDoGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // takes the request, never answers
		}
	}()
	url := "http://" + l.Addr().String() + "/health"
	if _, err := Do(context.Background(), "GET", url, nil, nil, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a server that never answers: %v, want a timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	ended := make(chan error, 1)
	go func() {
		_, err := Do(ctx, "GET", url, nil, nil, time.Hour)
		ended <- err
	}()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a request whose context is canceled: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Error("a request went on a minute after its context was canceled")
	}
	if _, err := Do(context.Background(), "GET", "https://example/", nil, nil, time.Second); err == nil || !strings.Contains(err.Error(), "http://HOST:PORT/PATH") {
		t.Errorf("an https address: %v, want the form it takes", err)
	}
}

// What Do sends, Server reads: the supervisor's two sides of a sync.
func TestDoAndServerTogether(t *testing.T) {
	base := serve(t, echo)
	body := bytes.Repeat([]byte("y"), 3<<20)
	res, err := Do(context.Background(), "POST", base+"/sync/web?q=1", Header{"authorization": "Bearer z"}, body, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if want := "POST /sync/web q=1 auth=Bearer z body=" + string(body); err != nil || res.StatusCode != 201 || string(got) != want {
		t.Errorf("%d %.60q %v", res.StatusCode, got, err)
	}
}

// A refusal that does not read the body (a wrong token with a large batch)
// still reaches the client, rather than a reset connection.
func TestAnswerWithoutReadingTheBodyReachesTheClient(t *testing.T) {
	base := serve(t, func(w *ResponseWriter, r *Request) { Error(w, "wrong token", 401) })
	for i := 0; i < 5; i++ {
		res, err := (&http.Client{Timeout: time.Minute}).Post(base+"/sync/web", "application/json", bytes.NewReader(make([]byte, 4<<20)))
		if err != nil {
			t.Fatalf("POST of 4 MB to a handler that refuses it: %v, want its 401", err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 401 || string(got) != "wrong token\n" {
			t.Errorf("answer %d %q, want 401 wrong token", res.StatusCode, got)
		}
	}
}
