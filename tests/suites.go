package main

import (
	"context"
	"fmt"
	"strings"
)

// TestReportsPassingSuites: the example's backend tests (against live
// Postgres and Redis) and frontend tests pass, and the report says so.
//
// +cache="never"
func (m *Tests) TestReportsPassingSuites(ctx context.Context) error {
	report, err := project("suites").Test(ctx, m.Example)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(report), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "backend:") || !strings.HasPrefix(lines[1], "frontend:") ||
		!strings.Contains(lines[0], "passed") || !strings.Contains(lines[1], "passed") {
		return fmt.Errorf("report %q: want a backend line and a frontend line, both passed", report)
	}
	return nil
}

// TestFailureNamesTheFailingTest: a backend test that fails on purpose makes
// Test fail, and the error the caller gets names that test.
//
// +cache="never"
func (m *Tests) TestFailureNamesTheFailingTest(ctx context.Context) error {
	broken := m.Example.WithNewFile("backend/tests/test_on_purpose.py", `
def test_fails_on_purpose():
    assert 1 + 1 == 3, "this test fails on purpose"
`)
	_, err := project("suites-fail").Test(ctx, broken)
	if err == nil {
		return fmt.Errorf("Test passed with a failing backend test")
	}
	for _, want := range []string{"backend tests failed", "test_fails_on_purpose", "this test fails on purpose"} {
		if !strings.Contains(err.Error(), want) {
			return fmt.Errorf("the error does not say %q: %v", want, err)
		}
	}
	return nil
}
