package compose

import (
	"slices"
	"testing"
)

func TestAptPackagesOfADockerfile(t *testing.T) {
	dockerfile := `FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc g++ \
        libpq-dev=15.* \
    && rm -rf /var/lib/apt/lists/*
RUN apt install -y curl; pip install -r requirements.txt
RUN echo apt-get install nothing-here
COPY . .
run apt-get -qq install -y gcc libmagic1
`
	got := aptPackages(dockerfile)
	want := []string{"gcc", "g++", "libpq-dev", "curl", "libmagic1"}
	if !slices.Equal(got, want) {
		t.Errorf("aptPackages = %q, want %q", got, want)
	}
	if got := aptPackages("FROM node:24\nRUN npm ci\n"); len(got) != 0 {
		t.Errorf("a Dockerfile with no apt: %q", got)
	}
}
