package agent

import "time"

// Backoff is an exponential backoff: Base, multiplied by Factor at each
// step, never more than Cap.
type Backoff struct {
	Base   time.Duration
	Factor float64
	Cap    time.Duration
}

// SelfHealBackoff is Argo CD's application controller default
// (--self-heal-backoff-timeout-seconds 2, --self-heal-backoff-factor 3,
// --self-heal-backoff-cap-seconds 300).
var SelfHealBackoff = Backoff{Base: 2 * time.Second, Factor: 3, Cap: 300 * time.Second}

// Delay is the wait before correction attempt n+1 when n corrections of the
// same commit were made already, counted from the end of the last one, as
// Argo CD counts: none before the first, then Base, Base×Factor, ...,
// at most Cap.
func (b Backoff) Delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := float64(b.Base)
	for i := 1; i < n; i++ {
		d *= b.Factor
		if b.Cap > 0 && d >= float64(b.Cap) {
			return b.Cap
		}
	}
	if b.Cap > 0 && time.Duration(d) > b.Cap {
		return b.Cap
	}
	return time.Duration(d)
}

// Remaining is how long to wait still, at now, before correction n+1 when
// the last one finished at last (zero: go ahead).
func (b Backoff) Remaining(n int, last, now time.Time) time.Duration {
	wait := b.Delay(n) - now.Sub(last)
	if last.IsZero() {
		wait = b.Delay(n)
	}
	if wait < 0 {
		return 0
	}
	return wait
}
