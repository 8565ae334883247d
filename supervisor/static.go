package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

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
	var o contract.Static
	fs := o.FlagSet(name + " " + contract.StaticCommand)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, err)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return 2
	}
	host, port, ps := envOr(o.Host, envOr(os.Getenv("HOST"), "0.0.0.0")), envOr(o.Port, os.Getenv("PORT")), o.Proxies
	if o.Dir == "" || port == "" {
		logger.Print("give --dir, the build's folder, and --port (or PORT)")
		return 2
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "index.html")); err != nil {
		logger.Printf("%s has no index.html: give the folder the build writes (%v)", o.Dir, err)
		return 2
	}
	if len(ps) == 0 {
		if backend := os.Getenv("BACKEND_URL"); backend != "" {
			p, err := contract.ParseProxy("/api=" + backend)
			if err != nil {
				logger.Printf("BACKEND_URL: %v", err)
				return 2
			}
			ps = append(ps, p)
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		logger.Print(err)
		return 1
	}
	srv := &http.Server{Handler: staticHandler(o.Dir, ps, logger), ReadHeaderTimeout: 10 * time.Second}
	logger.Printf("serving %s on %s, %s to the backend", o.Dir, l.Addr(), proxyList(ps))
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

// envOr is v, or def when v is empty.
func envOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func proxyList(ps []contract.Proxy) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// staticHandler serves dir, sends the proxies' prefixes on, and answers
// other paths without a file with index.html.
func staticHandler(dir string, ps []contract.Proxy, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, p := range ps {
		rp := httputil.NewSingleHostReverseProxy(p.Target)
		rp.ErrorLog = logger
		mux.Handle(p.Prefix, rp)
		mux.Handle(strings.TrimSuffix(p.Prefix, "/")+"/", rp)
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
