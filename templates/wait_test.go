package templates

import (
	"testing"
	"time"
)

func TestWaitText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "0 min"},
		{59 * time.Second, "0 min"},
		{45 * time.Minute, "45 min"},
		{time.Hour, "1 h"},
		{3*time.Hour + 20*time.Minute, "3 h 20 min"},
		{24 * time.Hour, "1 d"},
		{52*time.Hour + 59*time.Minute, "2 d 4 h"},
	} {
		if got := waitText(tc.d); got != tc.want {
			t.Errorf("waitText(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
