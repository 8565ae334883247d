package spec

import (
	"regexp"
	"strings"
	"testing"
)

func TestProxyConfigRoutesEveryPort(t *testing.T) {
	conf := ProxyConfig([]Route{
		{Port: 5432, Host: "postgres", Target: 5432, Service: "Postgres"},
		{Port: 9000, Host: "backend", Target: 9000, Service: "backend"},
	})
	servers := regexp.MustCompile(`server \{\s*listen (\d+);\s*proxy_pass ([a-z]+:\d+);\s*\}`).FindAllStringSubmatch(conf, -1)
	if len(servers) != 2 {
		t.Fatalf("want 2 server blocks, got %d in:\n%s", len(servers), conf)
	}
	if servers[0][1] != "5432" || servers[0][2] != "postgres:5432" || servers[1][1] != "9000" || servers[1][2] != "backend:9000" {
		t.Errorf("routes = %v", servers)
	}
	if !strings.Contains(conf, "load_module /usr/lib/nginx/modules/ngx_stream_module.so;") {
		t.Error("the stream module is not loaded")
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces in:\n%s", conf)
	}
}
