package agent

import (
	"testing"
	"time"
)

func TestSelfHealBackoff(t *testing.T) {
	for n, want := range []time.Duration{0, 2 * time.Second, 6 * time.Second, 18 * time.Second, 54 * time.Second, 162 * time.Second, 300 * time.Second, 300 * time.Second} {
		if got := SelfHealBackoff.Delay(n); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
	last := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if got := SelfHealBackoff.Remaining(2, last, last.Add(4*time.Second)); got != 2*time.Second {
		t.Errorf("Remaining(2, 4s after) = %s, want 2s", got)
	}
	if got := SelfHealBackoff.Remaining(2, last, last.Add(time.Minute)); got != 0 {
		t.Errorf("Remaining(2, a minute after) = %s, want 0", got)
	}
	if got := SelfHealBackoff.Remaining(1, time.Time{}, last); got != 2*time.Second {
		t.Errorf("Remaining(1, never finished) = %s, want 2s", got)
	}
}
