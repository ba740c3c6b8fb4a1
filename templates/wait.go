package templates

import (
	"fmt"
	"time"
)

// waitText says how long something has waited in the largest two units a
// person reads at a glance: "45 min", "3 h 20 min", "2 d 4 h".
func waitText(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	mins := int64(d / time.Minute)
	switch {
	case mins < 60:
		return fmt.Sprintf("%d min", mins)
	case mins < 24*60:
		if mins%60 == 0 {
			return fmt.Sprintf("%d h", mins/60)
		}
		return fmt.Sprintf("%d h %d min", mins/60, mins%60)
	default:
		days, hours := mins/(24*60), (mins%(24*60))/60
		if hours == 0 {
			return fmt.Sprintf("%d d", days)
		}
		return fmt.Sprintf("%d d %d h", days, hours)
	}
}
