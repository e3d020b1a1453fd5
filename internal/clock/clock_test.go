package clock

import (
	"testing"
	"time"
)

func TestManualAndOffset(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	m := NewManual(t0)
	if !m.Now().Equal(t0) || m.Now().Location() != time.UTC {
		t.Fatalf("manual now = %v", m.Now())
	}
	if got := m.Advance(36 * time.Hour); !got.Equal(t0.Add(36 * time.Hour)) {
		t.Fatalf("advance = %v", got)
	}
	o := &Offset{}
	o.Advance(30 * 24 * time.Hour)
	if d := o.Now().Sub(time.Now()); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Fatalf("offset clock is %v ahead, want 30 days", d)
	}
	if System.Now(System{}).Location() != time.UTC {
		t.Fatal("system clock not in UTC")
	}
}
