package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// svgShape is what the structural test reads back from a chart.
type svgShape struct {
	webfuser, pytorch int
	roofs             int
	outside           []string // points drawn outside the plot area
}

func parseSVG(t *testing.T, b []byte) svgShape {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var s svgShape
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		class := " " + attr["class"] + " "
		if strings.Contains(class, " roof ") {
			s.roofs++
		}
		if !strings.Contains(class, " point ") {
			continue
		}
		var x, y float64
		switch se.Name.Local {
		case "circle":
			x, _ = strconv.ParseFloat(attr["cx"], 64)
			y, _ = strconv.ParseFloat(attr["cy"], 64)
			s.webfuser++
		case "rect":
			x, _ = strconv.ParseFloat(attr["x"], 64)
			y, _ = strconv.ParseFloat(attr["y"], 64)
			x, y = x+4, y+4
			s.pytorch++
		default:
			t.Fatalf("a point drawn as <%s>", se.Name.Local)
		}
		if x < svgLeft || x > svgLeft+svgPlotW || y < svgTop || y > svgTop+svgPlotH {
			s.outside = append(s.outside, attr["class"])
		}
	}
	if root != "svg" {
		t.Fatalf("root element <%s>, want <svg>", root)
	}
	return s
}

func TestRooflineSVG(t *testing.T) {
	rows := []benchResult{
		{Source: "webfuser", Name: "copy", DType: "f32", Seconds: 1e-4, Bytes: 4e8},                              // no FLOPs: the roof, not a point
		{Source: "webfuser", Name: "rms_norm", DType: "f32", Seconds: 1e-4, Bytes: 4e8, FLOPs: 4e8},              // memory bound
		{Source: "webfuser", Name: "matmul <all> & co", DType: "bf16", Seconds: 6e-3, Bytes: 1e8, FLOPs: 1.4e11}, // escaped label
		{Source: "webfuser", Name: "faster than the peak", DType: "f32", Seconds: 1e-3, Bytes: 1e6, FLOPs: 1e12},
		{Source: "pytorch", Name: "F.rms_norm", Kernel: "rms_norm", DType: "f32", Seconds: 1.2e-4, Bytes: 4e8, FLOPs: 4e8},
		{Source: "pytorch", Name: "eager bf16", Size: "D=3072 H=24 S=4096 B=1", DType: "bf16", Seconds: 2e-3, Bytes: 4e8, FLOPs: 1.4e12},
		{Source: "pytorch", Name: "not timed", DType: "f32", Bytes: 1, FLOPs: 1},
	}
	for _, c := range []struct {
		name              string
		rows              []benchResult
		webfuser, pytorch int
		copyBW, peak      float64
		wantErr           bool
	}{
		{"mixed", rows, 3, 2, 4.2e12, 67e12, false},
		{"no points", rows[:1], 0, 0, 4.2e12, 67e12, false},
		{"tiny device", rows, 3, 2, 2e9, 1e11, false},
		{"no copy bandwidth", rows, 0, 0, 0, 67e12, true},
		{"no peak", rows, 0, 0, 4.2e12, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := roofline{Title: "test <chart>", CopyBW: c.copyBW, Peak: c.peak, Points: rooflinePoints(c.rows)}.writeSVG(&b)
			if c.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := parseSVG(t, b.Bytes())
			if s.webfuser != c.webfuser || s.pytorch != c.pytorch {
				t.Errorf("%d WebFuser and %d PyTorch points, want %d and %d", s.webfuser, s.pytorch, c.webfuser, c.pytorch)
			}
			if s.roofs != 1 {
				t.Errorf("%d roof lines, want 1", s.roofs)
			}
			if len(s.outside) > 0 {
				t.Errorf("points outside the plot: %v", s.outside)
			}
		})
	}
}

func TestRooflinePoints(t *testing.T) {
	pts := rooflinePoints([]benchResult{
		{Source: "webfuser", Name: "a", DType: "f32", Seconds: 2, Bytes: 4, FLOPs: 8},
		{Source: "pytorch", Name: "b", DType: "bf16", Seconds: 1, Bytes: 1, FLOPs: 0},
	})
	if len(pts) != 1 {
		t.Fatalf("%d points, want 1", len(pts))
	}
	if p := pts[0]; p.Intensity != 2 || p.Rate != 4 || p.Label != "a f32" {
		t.Errorf("point %+v, want intensity 2, rate 4, label \"a f32\"", p)
	}
}

func TestDecadeLabel(t *testing.T) {
	for e, want := range map[int]string{-4: "1e-04", -2: "0.01", -1: "0.1", 0: "1", 3: "1000", 5: "100000", 6: "1e+06"} {
		if got := decadeLabel(e); got != want {
			t.Errorf("decadeLabel(%d) = %q, want %q", e, got, want)
		}
	}
}
