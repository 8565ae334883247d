package hosttest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	cycles          = 20
	rowsPerCycle    = 5
	durablePgPort   = 25010
	durableRedis    = 25011
	durableProject  = "hosttest-durable"
	durablePassword = "hosttest-durable-password-4f1c9"
)

var durableEnv = []string{"HOSTTEST_PASSWORD=" + durablePassword}

func upPostgres(t *testing.T, project string, port int) *upProc {
	return startUp(t, durableEnv, "call", "--project="+project, "with-postgres", "--password=env:HOSTTEST_PASSWORD", "postgres",
		"up", "--ports", fmt.Sprintf("%d:5432", port))
}

func upRedis(t *testing.T, project string, port int) *upProc {
	return startUp(t, durableEnv, "call", "--project="+project, "with-redis", "--password=env:HOSTTEST_PASSWORD", "redis",
		"up", "--ports", fmt.Sprintf("%d:6379", port))
}

func connectPostgres(t *testing.T, ctx context.Context, port int) *pgx.Conn {
	t.Helper()
	var conn *pgx.Conn
	waitFor(t, fmt.Sprintf("postgres on 127.0.0.1:%d", port), 5*time.Minute, func() (err error) {
		conn, err = pgx.Connect(ctx, fmt.Sprintf("postgresql://commandcenter:%s@127.0.0.1:%d/commandcenter?connect_timeout=5", durablePassword, port))
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
		}
		return err
	})
	return conn
}

func connectRedis(t *testing.T, ctx context.Context, port int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: durablePassword})
	waitFor(t, fmt.Sprintf("redis on 127.0.0.1:%d", port), 5*time.Minute, func() error {
		return rdb.Ping(ctx).Err()
	})
	return rdb
}

// TestPostgresRowsSurviveTwentyRestarts writes rows through the forwarded
// port, stops `up`, starts it again, and checks every row of every cycle.
func TestPostgresRowsSurviveTwentyRestarts(t *testing.T) {
	ctx := context.Background()
	requireFree(t, durablePgPort)
	table := fmt.Sprintf("cycles_%d", time.Now().UnixNano())
	// Cycle `cycles` only checks what the last one wrote, then drops the table.
	for cycle := 0; cycle <= cycles; cycle++ {
		up := upPostgres(t, durableProject, durablePgPort)
		conn := connectPostgres(t, ctx, durablePgPort)
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (cycle int, n int)"); err != nil {
			t.Fatal(err)
		}
		var have int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&have); err != nil {
			t.Fatal(err)
		}
		if want := cycle * rowsPerCycle; have != want {
			t.Fatalf("cycle %d: %d rows after the restart, want %d: rows were lost", cycle, have, want)
		}
		if cycle < cycles {
			for n := 0; n < rowsPerCycle; n++ {
				if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2)", cycle, n); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			_, _ = conn.Exec(ctx, "DROP TABLE "+table)
		}
		conn.Close(ctx)
		stopUp(t, up)
		waitReleased(t, durablePgPort)
	}
}

// TestRedisKeysSurviveTwentyRestarts does the same with Redis keys, with
// persistence on.
func TestRedisKeysSurviveTwentyRestarts(t *testing.T) {
	ctx := context.Background()
	requireFree(t, durableRedis)
	prefix := fmt.Sprintf("cycles:%d", time.Now().UnixNano())
	for cycle := 0; cycle <= cycles; cycle++ {
		up := upRedis(t, durableProject, durableRedis)
		rdb := connectRedis(t, ctx, durableRedis)
		if cycle == 0 {
			// Each write on disk before Redis acknowledges it.
			for setting, want := range map[string]string{"appendonly": "yes", "appendfsync": "always"} {
				got, err := rdb.ConfigGet(ctx, setting).Result()
				if err != nil || got[setting] != want {
					t.Fatalf("Redis runs with %s = %v (%v), want %q", setting, got, err, want)
				}
			}
		}
		keys, err := rdb.Keys(ctx, prefix+":*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := cycle * rowsPerCycle; len(keys) != want {
			t.Fatalf("cycle %d: %d keys after the restart, want %d: keys were lost", cycle, len(keys), want)
		}
		if cycle < cycles {
			for n := 0; n < rowsPerCycle; n++ {
				if err := rdb.Set(ctx, fmt.Sprintf("%s:%d:%d", prefix, cycle, n), "v", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
		stopUp(t, up)
		waitReleased(t, durableRedis)
	}
}

// TestKilledUpLosesNoCommittedRow kills the `up` process (SIGKILL) in the
// middle of a burst of writes and checks every committed row afterwards.
func TestKilledUpLosesNoCommittedRow(t *testing.T) {
	ctx := context.Background()
	requireFree(t, durablePgPort)
	table := fmt.Sprintf("burst_%d", time.Now().UnixNano())
	up := upPostgres(t, durableProject, durablePgPort)
	conn := connectPostgres(t, ctx, durablePgPort)
	// A killed container leaves its writes with the kernel, so killing `up`
	// cannot show that a commit waits for the disk: the settings say so.
	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"} {
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+setting).Scan(&got); err != nil || got != want {
			t.Fatalf("Postgres runs with %s = %q (%v), want %q: a commit would not wait for the disk", setting, got, err, want)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		committed []int
		wg        sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := 0; ; id++ {
			if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", id); err != nil {
				return // the server went away mid-burst
			}
			mu.Lock()
			committed = append(committed, id)
			mu.Unlock()
		}
	}()
	waitFor(t, "a burst of 200 committed rows", time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(committed) < 200 {
			return fmt.Errorf("%d so far", len(committed))
		}
		return nil
	})
	killUp(t, up)
	wg.Wait()
	waitReleased(t, durablePgPort)
	waitNothingRuns(t, ctx, durableProject)

	up = upPostgres(t, durableProject, durablePgPort)
	conn = connectPostgres(t, ctx, durablePgPort)
	defer conn.Close(ctx)
	var have, missing int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&have); err != nil {
		t.Fatal(err)
	}
	for _, id := range committed {
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1 FROM "+table+" WHERE id = $1", id).Scan(&one); err != nil {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d committed rows are gone after the up process was killed", missing, len(committed))
	}
	t.Logf("%d rows committed before SIGKILL, all %d there after the restart (%d in the table)", len(committed), len(committed), have)
	_, _ = conn.Exec(ctx, "DROP TABLE "+table)
	stopUp(t, up)
	waitReleased(t, durablePgPort)
}

// waitNothingRuns waits until nothing of project runs, as its status
// reads the services' locks: after a killed `up`, the engine ends that
// session's services a moment later, and until then a new `up` of the
// project is refused as in use.
func waitNothingRuns(t *testing.T, ctx context.Context, project string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the end of project %s's services", project), 3*time.Minute, func() error {
		var s struct {
			Running bool `json:"running"`
		}
		out := dagger(t, ctx, "call", "--project="+project, "status", "--format=json")
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			return fmt.Errorf("status is not JSON: %v: %q", err, out)
		}
		if s.Running {
			return fmt.Errorf("still running")
		}
		return nil
	})
}
