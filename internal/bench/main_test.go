package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/lambdatest"
	"github.com/relinkhq/relink/internal/standin"
)

func TestMain(m *testing.M) {
	code := lambdatest.Run(m)
	standin.StopAll()
	if err := flushFigures(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// figure is one measured value beside what it is judged against: a baseline measured
// in the same run (Ratio is Value/Baseline), a goal, or both.
type figure struct {
	Section  string  `json:"section"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline,omitempty"`
	BaseName string  `json:"base_name,omitempty"` // what the baseline is
	Goal     string  `json:"goal,omitempty"`      // e.g. "ratio <= 2", "value <= 1.05"
	Met      *bool   `json:"met,omitempty"`       // nil: no goal
	Note     string  `json:"note,omitempty"`
	At       string  `json:"at"`   // when it was measured
	Load     string  `json:"load"` // the machine's load average then
}

func (f figure) ratio() (float64, bool) {
	if f.Baseline == 0 {
		return 0, false
	}
	return f.Value / f.Baseline, true
}

var figures struct {
	mu   sync.Mutex
	list []figure
}

// record keeps a figure for the summary. goal is checked as written: "value <= x",
// "value >= x", "ratio <= x", "ratio >= x" or "ratio in [a,b]"; "" for none.
func record(f figure) {
	f.At = time.Now().UTC().Format(time.RFC3339)
	f.Load = loadAverage()
	if f.Goal != "" {
		ok := meets(f)
		f.Met = &ok
	}
	figures.mu.Lock()
	figures.list = append(figures.list, f)
	figures.mu.Unlock()
}

func meets(f figure) bool {
	var what string
	var lo, hi float64
	v := f.Value
	if strings.HasPrefix(f.Goal, "ratio") {
		r, ok := f.ratio()
		if !ok {
			return false
		}
		v = r
	}
	switch {
	case sscan(f.Goal, "%s in [%g,%g]", &what, &lo, &hi):
		return v >= lo && v <= hi
	case sscan(f.Goal, "%s <= %g", &what, &hi):
		return v <= hi
	case sscan(f.Goal, "%s >= %g", &what, &lo):
		return v >= lo
	case sscan(f.Goal, "%s == %g", &what, &lo):
		return v == lo
	}
	return false
}

func sscan(s, format string, args ...any) bool {
	n, err := fmt.Sscanf(s, format, args...)
	return err == nil && n == len(args)
}

// loadAverage is the 1-minute load average and the CPU count, e.g. "3.2/2".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "?"
	}
	return fmt.Sprintf("%s/%d", fields[0], runtime.NumCPU())
}

// flushFigures appends this run's figures to RELINK_BENCH_RESULTS and, with
// RELINK_BENCH_SUMMARY=1, prints the table of every figure in that file (or of this
// run's alone when no file is named).
func flushFigures() error {
	figures.mu.Lock()
	list := slices.Clone(figures.list)
	figures.mu.Unlock()
	all := list
	if path := os.Getenv("RELINK_BENCH_RESULTS"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		for _, fig := range list {
			if err := enc.Encode(fig); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		if all, err = readFigures(path); err != nil {
			return err
		}
	}
	if os.Getenv("RELINK_BENCH_SUMMARY") == "1" {
		printSummary(os.Stdout, all)
	}
	return nil
}

func readFigures(path string) ([]figure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []figure
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var fig figure
		if err := json.Unmarshal(sc.Bytes(), &fig); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, fig)
	}
	return out, sc.Err()
}

// sections in the order of issue #8.
var sectionOrder = []string{"sweep", "email", "api", "cold start", "binary size", "cost", "scale"}

func printSummary(w io.Writer, list []figure) {
	if len(list) == 0 {
		fmt.Fprintln(w, "\nbench summary: no figures (every benchmark skipped?)")
		return
	}
	order := map[string]int{}
	for i, s := range sectionOrder {
		order[s] = i
	}
	sort.SliceStable(list, func(i, j int) bool { return order[list[i].Section] < order[list[j].Section] })
	loads := map[string]bool{}
	for _, f := range list {
		loads[f.Load] = true
	}
	var ls []string
	for l := range loads {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	fmt.Fprintf(w, "\n==== relink bench summary (load average/CPUs while measured: %s) ====\n", strings.Join(ls, " "))
	nameW := len("figure")
	for _, f := range list {
		nameW = max(nameW, len([]rune(f.Name)))
	}
	row := func(name, value, unit, base, baseName, ratio, goal string) {
		fmt.Fprintf(w, "%-*s %12s %-6s %12s %-24s %9s  %s\n", nameW, name, value, unit, base, clip(baseName, 24), ratio, goal)
	}
	missed := 0
	section := ""
	for _, f := range list {
		if f.Section != section {
			section = f.Section
			fmt.Fprintf(w, "\n-- %s\n", section)
			row("figure", "value", "unit", "baseline", "(baseline is)", "ratio", "goal")
		}
		base, ratio := "", ""
		if r, ok := f.ratio(); ok {
			base, ratio = num(f.Baseline), fmt.Sprintf("%.3g×", r)
		}
		goal := f.Goal
		if f.Met != nil {
			if *f.Met {
				goal += "  ok"
			} else {
				goal += "  MISSED"
				missed++
			}
		}
		row(f.Name, num(f.Value), f.Unit, base, f.BaseName, ratio, goal)
		if f.Note != "" {
			fmt.Fprintf(w, "%-*s   ↳ %s\n", nameW, "", f.Note)
		}
	}
	fmt.Fprintf(w, "\n%d figures, %d goals missed. Timings on a shared or loaded machine are indicative only.\n", len(list), missed)
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e12 {
		return fmt.Sprintf("%.0f", v)
	}
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// percentile of sorted durations (nearest rank), in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
