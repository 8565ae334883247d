package supervisor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The output of the processes a supervisor runs (the command, the prestart
// command, the processes next to it, and the supervisor's own messages)
// passes through it on its way to the engine: each line has the project's
// secrets masked, and goes to the service's log in the project's state
// volume (logs/NAME.log) with the time it was written, so that it can be
// read after the terminal of `up` is gone (see the logs function).

// Log files: the current run's log is rotated once it passes logCap, and
// one rotated file is kept; a new run moves the last run's log aside as
// NAME.previous.log. A service keeps at most 3 * logCap.
const (
	logCap = 5 << 20
	// partialFlush is how long a line without its end waits before it is
	// passed on anyway (a prompt, a progress bar).
	partialFlush = 200 * time.Millisecond
	// maskText replaces a secret in the output, as the engine does.
	maskText = "***"
)

// masker replaces secrets in text.
type masker struct {
	secrets []string // longest first
}

func newMasker(secrets []string) *masker {
	var s []string
	for _, v := range secrets {
		// Short values would mask ordinary words.
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return &masker{secrets: s}
}

func (m *masker) mask(b []byte) []byte {
	if m == nil {
		return b
	}
	for _, s := range m.secrets {
		if bytes.Contains(b, []byte(s)) {
			b = bytes.ReplaceAll(b, []byte(s), []byte(maskText))
		}
	}
	return b
}

// serviceLog is one service's log file in the state volume.
type serviceLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

// openLog opens the log of service name in dir (the state volume's logs
// folder) for a new run: the last run's log becomes NAME.previous.log.
func openLog(dir, name string) (*serviceLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, name+".log")
	if _, err := os.Stat(p); err == nil {
		if err := os.Rename(p, filepath.Join(dir, name+".previous.log")); err != nil {
			return nil, err
		}
	}
	_ = os.Remove(p + ".1")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &serviceLog{path: p, f: f}, nil
}

// line appends one line, written at t on stream (out or err).
func (l *serviceLog) line(t time.Time, stream string, text []byte) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	rec := fmt.Sprintf("%s %s %s\n", t.UTC().Format(logTime), stream, text)
	if l.size+int64(len(rec)) > logCap {
		// Rotate: the full file becomes NAME.log.1, replacing the one before.
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			l.f = nil
			return
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.WriteString(rec)
	l.size += int64(n)
}

// logTime is the time of a log line: fixed width, so that lines sort by it.
const logTime = "2006-01-02T15:04:05.000000Z"

// lineWriter passes what a process writes on, a line at a time: masked, to
// dst and to the log. A line without its end is passed on after
// partialFlush.
type lineWriter struct {
	mu     sync.Mutex
	dst    io.Writer
	log    *serviceLog
	stream string
	mask   *masker
	buf    []byte
	timer  *time.Timer
}

func newLineWriter(dst io.Writer, log *serviceLog, stream string, mask *masker) *lineWriter {
	return &lineWriter{dst: dst, log: log, stream: stream, mask: mask}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i], true)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 0 {
		if len(w.buf) >= 64<<10 {
			w.emit(w.buf, false)
			w.buf = nil
		} else if w.timer == nil {
			w.timer = time.AfterFunc(partialFlush, w.flush)
		}
	}
	return len(p), nil
}

// flush passes on a line without its end.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if len(w.buf) > 0 {
		w.emit(w.buf, false)
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte, ended bool) {
	masked := w.mask.mask(append([]byte(nil), line...))
	out := masked
	if ended {
		out = append(out, '\n')
	}
	_, _ = w.dst.Write(out)
	w.log.line(time.Now(), w.stream, bytes.TrimRight(masked, "\r"))
}

// Close passes on what is left.
func (w *lineWriter) Close() error {
	w.flush()
	return nil
}

// outputs are the writers of one process: its stdout and stderr.
type outputs struct {
	out, err *lineWriter
}

func newOutputs(stdout, stderr io.Writer, log *serviceLog, mask *masker) outputs {
	return outputs{out: newLineWriter(stdout, log, "out", mask), err: newLineWriter(stderr, log, "err", mask)}
}

func (o outputs) close() {
	o.out.Close()
	o.err.Close()
}

// logName is the name a service's log goes under: its name, or the
// command's program.
func logName(name string, command []string) string {
	if name != "" {
		return name
	}
	if len(command) > 0 {
		return strings.TrimSuffix(filepath.Base(command[0]), ".sh")
	}
	return "supervisor"
}
