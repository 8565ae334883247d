package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proxies are PREFIX=URL pairs: requests whose path starts with PREFIX go
// to URL.
type proxies []proxyRoute

type proxyRoute struct {
	prefix string
	target *url.URL
}

func (ps *proxies) String() string {
	parts := make([]string, len(*ps))
	for i, p := range *ps {
		parts[i] = p.prefix + "=" + p.target.String()
	}
	return strings.Join(parts, ",")
}

func (ps *proxies) Set(s string) error {
	prefix, target, ok := strings.Cut(s, "=")
	u, err := url.Parse(target)
	if !ok || !strings.HasPrefix(prefix, "/") || err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("proxy %q: want /PREFIX=http://HOST:PORT, such as /api=http://backend:8000", s)
	}
	*ps = append(*ps, proxyRoute{prefix: prefix, target: u})
	return nil
}

// serveStatic is the serve-static command: it serves a production build of
// a frontend, as the dev server would answer a browser: the files of --dir,
// /api (or each --proxy prefix) sent on to the backend, and index.html for
// any other path without a file (a single-page app's routes).
//
//	commandcenter-supervisor serve-static --dir /app/dist
//
// It listens on $HOST:$PORT and sends /api to $BACKEND_URL unless told
// otherwise, and stops on SIGTERM or SIGINT.
func serveStatic(args []string, stderr io.Writer) int {
	logger := log.New(stderr, name+" serve-static: ", 0)
	fs := flag.NewFlagSet(name+" serve-static", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "folder of the build to serve (with index.html)")
	host := fs.String("host", envOr("HOST", "0.0.0.0"), "address to listen on")
	port := fs.String("port", os.Getenv("PORT"), "port to listen on")
	var ps proxies
	fs.Var(&ps, "proxy", "/PREFIX=URL: send requests under PREFIX to URL (repeat for more); default /api=$BACKEND_URL")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || *port == "" {
		logger.Print("give --dir, the build's folder, and --port (or PORT)")
		return 2
	}
	if _, err := os.Stat(filepath.Join(*dir, "index.html")); err != nil {
		logger.Printf("%s has no index.html: give the folder the build writes (%v)", *dir, err)
		return 2
	}
	if len(ps) == 0 {
		if backend := os.Getenv("BACKEND_URL"); backend != "" {
			if err := ps.Set("/api=" + backend); err != nil {
				logger.Printf("BACKEND_URL: %v", err)
				return 2
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(*host, *port))
	if err != nil {
		logger.Print(err)
		return 1
	}
	srv := &http.Server{Handler: staticHandler(*dir, ps, logger), ReadHeaderTimeout: 10 * time.Second}
	logger.Printf("serving %s on %s, %s to the backend", *dir, l.Addr(), ps.String())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Print(err)
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// staticHandler serves dir, sends the proxies' prefixes on, and answers
// other paths without a file with index.html.
func staticHandler(dir string, ps proxies, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, p := range ps {
		rp := httputil.NewSingleHostReverseProxy(p.target)
		rp.ErrorLog = logger
		mux.Handle(p.prefix, rp)
		mux.Handle(strings.TrimSuffix(p.prefix, "/")+"/", rp)
	}
	files := http.FileServer(http.Dir(dir))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		clean := path.Clean("/" + r.URL.Path)
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(clean)))
		if err != nil || info.IsDir() && clean != "/" {
			// A route of the app, not a file: its page.
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFile(w, r, filepath.Join(dir, "index.html"))
			return
		}
		if clean == "/" || clean == "/index.html" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
	return mux
}
