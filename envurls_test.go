package main

import "testing"

// TestProjectURLsGetThePassword: URLs of the project's Postgres and Redis
// as a project written for compose names them get the password's
// placeholder; any other URL, and one with a password, is kept.
func TestProjectURLsGetThePassword(t *testing.T) {
	m := &Commandcenter{Pg: PostgresSettings{User: "app"}, HostNames: []HostNameSetting{{Name: "db", Service: "postgres"}, {Name: "cache", Service: "redis"}}}
	for _, c := range []struct{ in, out, kind string }{
		{"redis://redis:6379/0", "redis://default:{{redis|url}}@redis:6379/0", "redis"},
		{"redis://redis", "redis://default:{{redis|url}}@redis", "redis"},
		{"redis://cache:6379/1?ssl=false", "redis://default:{{redis|url}}@cache:6379/1?ssl=false", "redis"},
		{"redis://localhost:6379", "redis://default:{{redis|url}}@localhost:6379", "redis"},
		{"redis://[::1]:6379/2", "redis://default:{{redis|url}}@[::1]:6379/2", "redis"},
		{"postgresql+asyncpg://app@postgres:5432/app", "postgresql+asyncpg://app:{{postgres|url}}@postgres:5432/app", "postgres"},
		{"postgres://db/app", "postgres://app:{{postgres|url}}@db/app", "postgres"},
		{"postgresql://postgres", "postgresql://app:{{postgres|url}}@postgres", "postgres"},
		// Kept: a password of the project's own, another host or port,
		// another scheme, not a URL.
		{"redis://:changeme@redis:6379/0", "", ""},
		{"postgresql://app:secret@postgres/app", "", ""},
		{"redis://broker:6379/0", "", ""},
		{"redis://redis:6380/0", "", ""},
		{"rediss://redis:6379/0", "", ""},
		{"amqp://redis:5672", "", ""},
		{"http://backend:8000", "", ""},
		{"redis", "", ""},
		{"postgres://cache/app", "", ""},
	} {
		got, kind := m.passwordURL(c.in)
		want := c.out
		if want == "" {
			want = c.in
		}
		if got != want || kind != c.kind {
			t.Errorf("passwordURL(%q) = %q, %q; want %q, %q", c.in, got, kind, want, c.kind)
		}
	}
}
