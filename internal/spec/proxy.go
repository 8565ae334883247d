package spec

import (
	"fmt"
	"strings"
)

// Route is one port the Stack's proxy forwards to a bound service.
type Route struct {
	Port    int    // port the proxy listens on
	Host    string // alias the service is bound under
	Target  int    // port of the service
	Service string // what it is, for the config's comments
}

// ProxyConfig is the nginx configuration of the Stack's TCP proxy.
func ProxyConfig(routes []Route) string {
	var b strings.Builder
	b.WriteString(`# TCP proxy of the commandcenter Stack: one listener a service.
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
error_log stderr notice;
pid /tmp/nginx.pid;

events {
    worker_connections 4096;
}

stream {
    tcp_nodelay on;
    proxy_connect_timeout 5s;
    # Dev servers and database sessions idle for long stretches.
    proxy_timeout 24h;
`)
	for _, r := range routes {
		fmt.Fprintf(&b, `
    # %s
    server {
        listen %d;
        proxy_pass %s:%d;
    }
`, r.Service, r.Port, r.Host, r.Target)
	}
	b.WriteString("}\n")
	return b.String()
}
