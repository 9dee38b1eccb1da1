package demo

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/ops"
)

// TestTuneAndApplyStored tunes one class at small shapes, then applies
// the JSON the page would keep, and checks that tables which cannot
// apply are left out with the reason.
func TestTuneAndApplyStored(t *testing.T) {
	d := testDevice(t)
	defer ops.ResetTuning(d)
	if k := TuningKey(d); !regexp.MustCompile(`^webfuser-tuning-[0-9a-f]{12}$`).MatchString(k) {
		t.Errorf("TuningKey = %q", k)
	}
	if _, _, err := Tune(context.Background(), d, TuneRequest{Quick: true, Weights: []string{"int3"}}, nil); err == nil {
		t.Error("Tune with weights int3: no error")
	}
	steps := 0
	stored, rep, err := Tune(context.Background(), d, TuneRequest{Quick: true, Rows: []int{1}, Weights: []string{"fp8_e4m3"}},
		func(done, total int, class string) { steps++ })
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Applied || rep.Classes != 1 || rep.Date == "" || steps == 0 || d.Tuned() == nil {
		t.Fatalf("report %+v after %d progress calls, device table %v", rep, steps, d.Tuned())
	}
	ops.ResetTuning(d)
	if got := ApplyStored(d, stored); !got.Applied || got.Date != rep.Date || len(got.Changed) != len(rep.Changed) || d.Tuned() == nil {
		t.Errorf("ApplyStored = %+v, want %+v applied", got, rep)
	}
	edit := func(field, value string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(stored), &m); err != nil {
			t.Fatal(err)
		}
		m[field] = value
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct{ name, stored, why string }{
		{"not json", "{", "ReadTuning"},
		{"empty", "", "ReadTuning"},
		{"another adapter", edit("adapter", "Some GPU | vendor | driver | metal"), "adapter"},
		{"other kernels", edit("kernels", "0123"), "kernels"},
	} {
		ops.ResetTuning(d)
		if got := ApplyStored(d, c.stored); got.Applied || !strings.Contains(got.Why, c.why) || d.Tuned() != nil {
			t.Errorf("%s: ApplyStored = %+v, want not applied, the reason naming %q", c.name, got, c.why)
		}
	}
}
