//go:build js

package safetensors

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestFetch reads a file through fetch from a data: URL (node and the
// browser both serve those without a network).
func TestFetch(t *testing.T) {
	want, b := sample(t)
	url := "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(b)
	f, err := Fetch(url, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, f, want)
	if _, err := Fetch(url, 16); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("bound: %v", err)
	}
	if _, err := Fetch("data:application/octet-stream;base64,AAAA", 0); err == nil {
		t.Error("a 3-byte file parsed")
	}
}
