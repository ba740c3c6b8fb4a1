package pawapasssim

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		base    time.Duration
		want    time.Duration // before jitter
	}{
		{1, time.Second, time.Second},
		{2, time.Second, 2 * time.Second},
		{5, time.Second, 16 * time.Second},
		{14, time.Second, 8192 * time.Second},
		{15, time.Second, MaxWebhookBackoff}, // 16384 s > 4 h
		{55, time.Second, MaxWebhookBackoff},
		{200, time.Second, MaxWebhookBackoff},
		{3, time.Millisecond, 4 * time.Millisecond},
		{70, time.Hour, MaxWebhookBackoff},
	} {
		for _, j := range []struct {
			jitter float64
			factor float64
		}{{0, 0.75}, {0.5, 1}, {0.999999, 1.25}} {
			got := retryDelay(tc.attempt, tc.base, j.jitter)
			want := time.Duration(float64(tc.want) * j.factor)
			if diff, tol := (got - want).Abs(), time.Duration(float64(tc.want)*1e-5); diff > tol {
				t.Errorf("retryDelay(%d, %v, %v) = %v, want %v", tc.attempt, tc.base, j.jitter, got, want)
			}
		}
	}
}

func TestAgeBracket(t *testing.T) {
	now := time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		born string
		want string
	}{
		{"2020-01-01", "UNDER_8"},
		{"2017-08-20", "OVER_8"},
		{"2017-08-21", "UNDER_8"},
		{"2012-01-01", "OVER_13"},
		{"2009-01-01", "OVER_16"},
		{"2007-08-20", "OVER_18"},
		{"2007-08-21", "OVER_16"},
		{"2004-08-20", "OVER_21"},
		{"2000-01-01", "OVER_25"},
		{"1995-08-20", "OVER_30"},
		{"1940-02-29", "OVER_30"},
	} {
		born, _ := time.Parse(dateLayout, tc.born)
		if got := ageBracket(born, now); got != tc.want {
			t.Errorf("born %s: %s, want %s", tc.born, got, tc.want)
		}
	}
}
