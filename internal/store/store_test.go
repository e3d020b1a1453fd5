package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/relink"
)

func TestCheckSend(t *testing.T) {
	longest := strings.Repeat("k", MaxSendKey)
	for _, ok := range [][]string{{"reminder#ws1#a1#2026-11-23#step-2"}, {longest, "run-01"}, {"ключ", "r"}} {
		if err := CheckSend(ok...); err != nil {
			t.Errorf("CheckSend(%q): %v", ok, err)
		}
	}
	for name, bad := range map[string][]string{
		"empty key":      {""},
		"key too long":   {longest + "k"},
		"NUL":            {"a\x00b"},
		"not UTF-8":      {"a\xffb"},
		"empty owner":    {"k", ""},
		"owner too long": {"k", longest + "k"},
	} {
		if err := CheckSend(bad...); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestCheckSent(t *testing.T) {
	for _, id := range []string{"", "0100018f-abc", strings.Repeat("m", MaxSendKey)} {
		if err := CheckSent("k", "run-1", id); err != nil {
			t.Errorf("message ID %q: %v", id, err)
		}
	}
	for name, args := range map[string][3]string{
		"long ID":   {"k", "r", strings.Repeat("m", MaxSendKey+1)},
		"NUL in ID": {"k", "r", "a\x00"},
		"bad key":   {"", "r", "m"},
		"bad owner": {"k", "", "m"},
	} {
		if err := CheckSent(args[0], args[1], args[2]); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestCheckRun(t *testing.T) {
	ok := Run{Function: "expiry-check", ID: "01JD", Counts: map[string]int{"checked": 120}}
	if err := CheckRun(ok); err != nil {
		t.Fatalf("CheckRun(%+v): %v", ok, err)
	}
	if err := CheckRun(Run{Function: "reminders"}); err != nil {
		t.Fatalf("a run without ID or counts: %v", err)
	}
	many := map[string]int{}
	for i := range MaxRunCounts + 1 {
		many[fmt.Sprintf("c%d", i)] = i
	}
	for name, r := range map[string]Run{
		"no function":       {ID: "x"},
		"long function":     {Function: strings.Repeat("f", MaxRunName+1)},
		"NUL in function":   {Function: "a\x00b"},
		"long ID":           {Function: "f", ID: strings.Repeat("i", MaxRunName+1)},
		"empty count name":  {Function: "f", Counts: map[string]int{"": 1}},
		"bad count name":    {Function: "f", Counts: map[string]int{"\xff": 1}},
		"too many counts":   {Function: "f", Counts: many},
		"function not UTF8": {Function: "\xfe"},
	} {
		if err := CheckRun(r); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}
