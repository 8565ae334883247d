package main

import (
	"fmt"
	"slices"
	"strings"

	"dagger/commandcenter/internal/contract"
)

// A project written for compose names its Postgres and Redis in its own
// env, by compose's host names and with no password, because compose's
// Redis has none and its Postgres takes the one in the file:
//
//	CELERY_BROKER_URL=redis://redis:6379/0
//	DATABASE_URL=postgresql+asyncpg://app@postgres/app
//
// The module's Redis and Postgres have the project's password, so such a
// URL would be refused (NOAUTH, password authentication failed). The
// module fills the project's password in: the value names it as a
// placeholder, and the supervisor sets the variable with the password in
// it, as it does the module's own DATABASE_URL. A URL that has a password
// is the project's own and is kept as written.

// passwordURL is value with the project's password filled in, when it is
// the URL of the project's Postgres or Redis with none; the name of the
// password ("postgres", "redis") says which, and is empty when value is
// kept as it is.
func (m *Commandcenter) passwordURL(value string) (string, string) {
	scheme, rest, ok := strings.Cut(value, "://")
	if !ok {
		return value, ""
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostport, hasUser := strings.Cut(authority, "@")
	if !hasUser {
		userinfo, hostport = "", authority
	}
	if strings.Contains(userinfo, ":") {
		return value, ""
	}
	host, port := hostport, ""
	if i := strings.LastIndex(hostport, ":"); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	kind, user := "", userinfo
	switch base, _, _ := strings.Cut(strings.ToLower(scheme), "+"); {
	case base == "redis" && (port == "" || port == fmt.Sprint(redisPort)) && m.namesPeer(host, "redis"):
		kind = "redis"
		if user == "" {
			user = "default"
		}
	case (base == "postgres" || base == "postgresql") && (port == "" || port == fmt.Sprint(postgresPort)) && m.namesPeer(host, "postgres"):
		kind = "postgres"
		if user == "" {
			user = m.Pg.User
		}
	default:
		return value, ""
	}
	return scheme + "://" + user + ":" + contract.Placeholder(kind, true) + "@" + hostport + tail, kind
}

// namesPeer says whether host is a name the project's service of kind
// (postgres, redis) is reached by from its backend, workers and frontend:
// compose's name, the names of with-host-name, or localhost (the Stack's
// members reach it there too).
func (m *Commandcenter) namesPeer(host, kind string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == kind || host == "localhost" || host == "127.0.0.1" || host == "::1" {
		return true
	}
	return slices.ContainsFunc(m.HostNames, func(h HostNameSetting) bool { return h.Service == kind && h.Name == host })
}

// withPasswords marks the plain variables of vars that name the project's
// Postgres or Redis with no password (see passwordURL): the supervisor
// sets them, with the password filled in. It says so once for each.
func (m *Commandcenter) withPasswords(vars []envVar) []envVar {
	out := slices.Clone(vars)
	for i, v := range out {
		if v.secret != nil {
			continue
		}
		if u, kind := m.passwordURL(v.value); kind != "" {
			out[i].value, out[i].expand = u, true
			fmt.Printf("env %s names the project's %s with no password: the project's password is filled in\n", v.name, pretty(kind))
		}
	}
	return out
}

// supervised are the variables of vars the supervisor sets (with the
// project's passwords filled in), for a service's env.
func supervised(vars []envVar) []contract.EnvVar {
	var env []contract.EnvVar
	for _, v := range vars {
		if v.expand {
			env = append(env, contract.EnvVar{Name: v.name, Value: v.value})
		}
	}
	return env
}

// pretty is a kind of service as the messages name it.
func pretty(kind string) string {
	switch kind {
	case "postgres":
		return "Postgres"
	case "redis":
		return "Redis"
	}
	return kind
}
