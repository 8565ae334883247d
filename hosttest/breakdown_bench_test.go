//go:build bench

package hosttest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The benchmarks tell where a start's time goes from the spans the dagger
// CLI exports over OpenTelemetry (OTLP over HTTP, protobuf: the CLI's
// default when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set), with the times
// the engine gave them. The CLI sends them as it exits, after the stop.

// span is one span's name and times.
type span struct {
	name       string
	start, end time.Time
}

// spanSink is an OTLP/HTTP traces endpoint that keeps the spans it gets.
type spanSink struct {
	url   string
	mu    sync.Mutex
	spans []span
}

var (
	sinkOnce sync.Once
	sink     *spanSink
)

// traceEnv is the CLI's environment that sends its spans to the
// benchmark's sink (started once).
func traceEnv(t *testing.T) []string {
	t.Helper()
	sinkOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen for the CLI's spans: %v", err)
		}
		sink = &spanSink{url: "http://" + l.Addr().String() + "/v1/traces"}
		go func() { _ = http.Serve(l, sink) }()
	})
	return []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + sink.url}
}

func (s *spanSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = z
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	got := decodeSpans(data)
	s.mu.Lock()
	s.spans = append(s.spans, got...)
	s.mu.Unlock()
	// An empty ExportTraceServiceResponse.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// since are the spans that started at or after from.
func (s *spanSink) since(from time.Time) []span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []span
	for _, sp := range s.spans {
		if !sp.start.Before(from) {
			out = append(out, sp)
		}
	}
	return out
}

// decodeSpans reads an ExportTraceServiceRequest: resource_spans (1) ->
// scope_spans (2) -> spans (2), each with its name (5) and start and end
// times in Unix nanoseconds (7, 8).
func decodeSpans(data []byte) []span {
	var out []span
	eachField(data, 1, func(resource []byte) {
		eachField(resource, 2, func(scope []byte) {
			eachField(scope, 2, func(raw []byte) {
				var sp span
				walkFields(raw, func(num protowire.Number, typ protowire.Type, b []byte, n uint64) {
					switch {
					case num == 5 && typ == protowire.BytesType:
						sp.name = string(b)
					case num == 7 && typ == protowire.Fixed64Type:
						sp.start = time.Unix(0, int64(n))
					case num == 8 && typ == protowire.Fixed64Type:
						sp.end = time.Unix(0, int64(n))
					}
				})
				out = append(out, sp)
			})
		})
	})
	return out
}

// eachField calls f with the bytes of each length-delimited field num.
func eachField(data []byte, num protowire.Number, f func([]byte)) {
	walkFields(data, func(n protowire.Number, typ protowire.Type, b []byte, _ uint64) {
		if n == num && typ == protowire.BytesType {
			f(b)
		}
	})
}

// walkFields calls f with each field of a message: its bytes when
// length-delimited, its value when fixed64; it stops at a malformed one.
func walkFields(data []byte, f func(protowire.Number, protowire.Type, []byte, uint64)) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return
		}
		data = data[n:]
		switch typ {
		case protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return
			}
			f(num, typ, b, 0)
			data = data[n:]
		case protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return
			}
			f(num, typ, nil, v)
			data = data[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return
			}
			data = data[n:]
		}
	}
}

// A start's phases, told apart by its spans: the module loaded (with no
// module, the core API's types), the engine asked for the tunnels to the
// host (the module's functions have returned the service, --src uploaded),
// the engine's check that the service's ports answer, and every service
// answering on its host port (the benchmark's own poll).
var phaseNames = []string{
	"connect, load the module",
	"--src upload and the module's functions",
	"of which the --src upload",
	"the services start, to the engine's check of their ports",
	"the tunnels, to every service answering on its host port",
}

// portsCheck is the name of the engine's span that waits for a service's
// ports: "5432/tcp 6379/tcp".
var portsCheck = regexp.MustCompile(`^\d+/(tcp|udp)( \d+/(tcp|udp))*$`)

// phasesOf are the phases of a start that began at start and was ready at
// ready, from the spans its CLI sent (sinceStart); nil when one is missing.
func phasesOf(spans []span, start, ready time.Time) []time.Duration {
	var loaded, tunnel, checked time.Time
	var upload time.Duration
	for _, sp := range spans {
		switch {
		case strings.HasPrefix(sp.name, "load module: "):
			loaded = sp.end
		case sp.name == "loading type definitions" && loaded.IsZero():
			// A call of the core API (the floor) loads its types only.
			loaded = sp.end
		case sp.name == "Host.tunnel" && tunnel.IsZero():
			tunnel = sp.start
		case portsCheck.MatchString(sp.name) && sp.end.After(checked):
			checked = sp.end
		}
	}
	if loaded.IsZero() || tunnel.IsZero() || checked.IsZero() {
		return nil
	}
	for _, sp := range spans {
		if sp.name == "filesync" && sp.start.After(loaded) && sp.end.Before(tunnel) {
			upload += sp.end.Sub(sp.start)
		}
	}
	return []time.Duration{loaded.Sub(start), tunnel.Sub(loaded), upload, checked.Sub(tunnel), ready.Sub(checked)}
}

// breakdown is a table of the median of each phase of the starts of each
// named series of phases.
func breakdown(names []string, runs [][][]time.Duration) string {
	var b strings.Builder
	b.WriteString("| start | " + strings.Join(phaseNames, " | ") + " | runs |\n|" + strings.Repeat(" --- |", len(phaseNames)+2) + "\n")
	for i, name := range names {
		cells := make([]string, len(phaseNames))
		n := 0
		for p := range phaseNames {
			var ds []time.Duration
			for _, run := range runs[i] {
				if run != nil {
					ds = append(ds, run[p])
				}
			}
			n = len(ds)
			cells[p] = "n/a"
			if n > 0 {
				cells[p] = secs(median(ds))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d |\n", name, strings.Join(cells, " | "), n)
	}
	return b.String()
}
