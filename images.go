package main

// Official images the module runs, pinned by tag (never by digest, so that a
// local mirror can stand in for Docker Hub). The tags are the Debian (trixie)
// variants. Chosen 2026-11-26; each family's tags are listed on Docker Hub at
// hub.docker.com/_/NAME/tags. The engine kit (enginekit/images.json) publishes
// a stand-in for each default tag on machines without Docker Hub.
const (
	postgresImage = "postgres"
	redisImage    = "redis"
	pythonImage   = "python"
	nodeImage     = "node"
	// Go toolchain that builds the module's supervisor (the supervisor
	// folder): a static build needs no C compiler, so the Alpine variant,
	// much smaller than the Debian one (which adds gcc, git and their
	// libraries), is what a first start on a new machine pulls for it.
	golangImage = "golang:1.25-alpine"

	defaultPostgresVersion = "17"
	defaultRedisVersion    = "8"
	defaultPythonVersion   = "3.13"
	defaultNodeVersion     = "24"
)

// Versions each function accepts, and the tag each one runs.
var (
	postgresTags = map[string]string{
		"15": "15-trixie", "16": "16-trixie", "17": "17-trixie",
	}
	redisTags = map[string]string{
		"8": "8-trixie",
	}
	pythonTags = map[string]string{
		"3.11": "3.11-slim-trixie", "3.12": "3.12-slim-trixie", "3.13": "3.13-slim-trixie", "3.14": "3.14-slim-trixie",
	}
	nodeTags = map[string]string{
		"22": "22-trixie-slim", "24": "24-trixie-slim",
	}
)
