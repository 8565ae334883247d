//go:build load

package hosttest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadThroughStack puts load on the Stack through its forwarded ports:
// pgbench for 60 s with 8 clients, redis-benchmark, and HTTP on the
// backend's /health; each must end with zero errors. Results: bench/load.md.
func TestLoadThroughStack(t *testing.T) {
	ports := stackPorts{25100, 25101, 25102, 25103}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	up, ready := upStack(t, "bench-load", "examples/commandcenter", ports, "")
	defer stopStack(t, up, ports)

	pg := pgbench(t, ports.pg, "-c", "8", "-j", "2", "-T", "60")
	if pg.Failed != 0 {
		t.Errorf("pgbench: %d failed transactions", pg.Failed)
	}
	rd, rdErrors := redisBench(t, ports.redis, "ping,set,get,incr,lpush", 20000)
	if rdErrors != 0 {
		t.Errorf("redis-benchmark: %d errors", rdErrors)
	}
	h := httpLoad(t, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend), 16, 30*time.Second)
	if h.errors != 0 {
		t.Errorf("HTTP /health: %d errors of %d requests (first: %s)", h.errors, h.requests, h.firstError)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Load through the Stack's forwarded ports\n\n")
	fmt.Fprintf(&b, "Measured by `make load` (hosttest/load_test.go) on %s.\n", machine())
	fmt.Fprintf(&b, "The stack of the example project was ready %s after `up` started.\n\n", secs(ready))
	fmt.Fprintf(&b, "| load | result | errors |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| pgbench, TPC-B-like, scale 10, 8 clients, 60 s, via 127.0.0.1:%d | %.0f tps, %.2f ms average latency, %d transactions | %d failed |\n",
		ports.pg, pg.TPS, pg.LatencyMs, pg.Processed, pg.Failed)
	names := make([]string, 0, len(rd))
	for name := range rd {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "| redis-benchmark %s, 50 clients, 20000 requests, via 127.0.0.1:%d | %.0f requests/s | |\n", name, ports.redis, rd[name])
	}
	fmt.Fprintf(&b, "| redis-benchmark, all of the above | | %d (its error lines and Redis's error replies) |\n", rdErrors)
	fmt.Fprintf(&b, "| HTTP GET /health (Postgres and Redis checked on each), 16 clients, 30 s, via 127.0.0.1:%d | %.0f requests/s, p50 %.1f ms, p99 %.1f ms, %d requests | %d |\n",
		ports.backend, h.rps, h.p50, h.p99, h.requests, h.errors)
	writeResults(t, "load.md", b.String())
}

type httpResult struct {
	requests, errors int64
	rps, p50, p99    float64
	firstError       string
}

// httpLoad sends GETs from workers for a while and counts anything but a 200.
func httpLoad(t *testing.T, url string, workers int, d time.Duration) httpResult {
	t.Helper()
	var (
		r         httpResult
		mu        sync.Mutex
		latencies []float64
		wg        sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	end := time.Now().Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for time.Now().Before(end) {
				start := time.Now()
				res, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				atomic.AddInt64(&r.requests, 1)
				if err != nil {
					if atomic.AddInt64(&r.errors, 1) == 1 {
						mu.Lock()
						r.firstError = err.Error()
						mu.Unlock()
					}
					continue
				}
				mine = append(mine, float64(time.Since(start).Microseconds())/1000)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Float64s(latencies)
	if n := len(latencies); n > 0 {
		r.p50 = latencies[n/2]
		r.p99 = latencies[n*99/100]
	}
	r.rps = float64(r.requests) / d.Seconds()
	return r
}
