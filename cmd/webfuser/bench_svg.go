package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// rooflinePoint is one timed kernel placed on the roofline.
type rooflinePoint struct {
	Label     string
	Source    string  // webfuser or pytorch
	Intensity float64 // FLOP per byte moved
	Rate      float64 // FLOP/s achieved
}

// roofline is a log-log roofline chart: arithmetic intensity on x,
// achieved FLOP/s on y, the measured copy bandwidth and a compute peak as
// the limits.
type roofline struct {
	Title  string
	CopyBW float64 // bytes/s, the slope of the memory roof
	Peak   float64 // FLOP/s, the flat compute roof
	Points []rooflinePoint
}

// rooflinePoints places every row that has a time, bytes and FLOPs.
// Rows without FLOPs (the copy) have no place on the chart: the copy is
// the memory roof itself.
func rooflinePoints(rows []benchResult) []rooflinePoint {
	var out []rooflinePoint
	for _, r := range rows {
		if !(r.Seconds > 0 && r.Bytes > 0 && r.FLOPs > 0) {
			continue
		}
		var parts []string
		for _, p := range []string{r.Name, r.Size, r.DType, r.Mode} {
			if p != "" && p != "trusted" {
				parts = append(parts, p)
			}
		}
		label := strings.Join(parts, " ")
		if r.VsCopy > 0 {
			label += fmt.Sprintf(", %.2fx copy", r.VsCopy)
		}
		if r.Source == "pytorch" {
			label = "PyTorch " + label
		}
		out = append(out, rooflinePoint{Label: label, Source: r.Source, Intensity: r.FLOPs / r.Bytes, Rate: r.FLOPs / r.Seconds})
	}
	return out
}

// Chart geometry, in SVG user units.
const (
	svgPlotW, svgPlotH        = 620, 460
	svgLeft, svgTop, svgBelow = 110, 50, 60
	svgLegendW, svgLineH      = 420, 14
)

// writeSVG draws the chart. It fails only when w does.
func (r roofline) writeSVG(w io.Writer) error {
	if !(r.CopyBW > 0) || !(r.Peak > 0) {
		return fmt.Errorf("bench: --svg: the roofline needs a copy bandwidth and a peak (have %g B/s, %g FLOP/s)", r.CopyBW, r.Peak)
	}
	ridge := r.Peak / r.CopyBW
	xlo, xhi := ridge/1000, ridge*10
	ylo, yhi := r.CopyBW*xlo, r.Peak*2
	for _, p := range r.Points {
		xlo, xhi = math.Min(xlo, p.Intensity), math.Max(xhi, p.Intensity)
		ylo, yhi = math.Min(ylo, p.Rate), math.Max(yhi, p.Rate)
	}
	// Whole decades, one more on each side of the points.
	xlo, xhi = math.Pow(10, math.Floor(math.Log10(xlo))), math.Pow(10, math.Ceil(math.Log10(xhi)))
	ylo, yhi = math.Pow(10, math.Floor(math.Log10(ylo))), math.Pow(10, math.Ceil(math.Log10(yhi)))
	px := func(x float64) float64 {
		return svgLeft + svgPlotW*(math.Log10(x)-math.Log10(xlo))/(math.Log10(xhi)-math.Log10(xlo))
	}
	py := func(y float64) float64 {
		return svgTop + svgPlotH*(1-(math.Log10(y)-math.Log10(ylo))/(math.Log10(yhi)-math.Log10(ylo)))
	}
	// The legend is as wide as its longest line (about 6.5 px a character at 11 px).
	legendW := svgLegendW
	for i, p := range r.Points {
		n := len(fmt.Sprintf("%d. %s (%sFLOP/s)", i+1, p.Label, siLabel(p.Rate)))
		legendW = max(legendW, n*13/2+10)
	}
	width := svgLeft + svgPlotW + 30 + legendW
	height := max(svgTop+svgPlotH+svgBelow, svgTop+svgLineH*(len(r.Points)+6))

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15">%s</text>`+"\n", svgLeft, esc(r.Title))

	// Grid and axes, one line per decade.
	for e := int(math.Round(math.Log10(xlo))); e <= int(math.Round(math.Log10(xhi))); e++ {
		x := px(math.Pow(10, float64(e)))
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, svgTop, x, svgTop+svgPlotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, svgTop+svgPlotH+16, esc(decadeLabel(e)))
	}
	for e := int(math.Round(math.Log10(ylo))); e <= int(math.Round(math.Log10(yhi))); e++ {
		y := py(math.Pow(10, float64(e)))
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", svgLeft, y, svgLeft+svgPlotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y+4, esc(siLabel(math.Pow(10, float64(e)))+"FLOP/s"))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>`+"\n", svgLeft, svgTop, svgPlotW, svgPlotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">arithmetic intensity (FLOP per byte moved)</text>`+"\n", svgLeft+svgPlotW/2, svgTop+svgPlotH+40)
	fmt.Fprintf(&b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">achieved FLOP/s</text>`+"\n", svgTop+svgPlotH/2, svgTop+svgPlotH/2)

	// The roofs: copy bandwidth up to the ridge, the peak after it.
	x0 := math.Max(xlo, ylo/r.CopyBW)
	fmt.Fprintf(&b, `<polyline class="roof" points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="black" stroke-width="2"/>`+"\n",
		px(x0), py(r.CopyBW*x0), px(ridge), py(r.Peak), px(xhi), py(r.Peak))
	xm := math.Sqrt(x0 * ridge) // the middle of the slope, along which the label runs
	angle := math.Atan2(py(r.Peak)-py(r.CopyBW*x0), px(ridge)-px(x0)) * 180 / math.Pi
	fmt.Fprintf(&b, `<text class="roof-label" x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(%.1f %.1f %.1f)">copy %.0f GB/s (measured)</text>`+"\n",
		px(xm), py(r.CopyBW*xm)-6, angle, px(xm), py(r.CopyBW*xm), r.CopyBW/1e9)
	fmt.Fprintf(&b, `<text class="roof-label" x="%.1f" y="%.1f" text-anchor="end">FP32 peak %sFLOP/s</text>`+"\n", px(xhi)-6, py(r.Peak)-6, esc(siLabel(r.Peak)))

	// Points, numbered, with the numbers explained in the legend.
	lx := svgLeft + svgPlotW + 30
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">● WebFuser   ■ PyTorch</text>`+"\n", lx, svgTop)
	for i, p := range r.Points {
		x, y := px(p.Intensity), py(p.Rate)
		title := fmt.Sprintf("%s: %.3g FLOP/byte, %sFLOP/s", p.Label, p.Intensity, siLabel(p.Rate))
		if p.Source == "pytorch" {
			fmt.Fprintf(&b, `<rect class="point pytorch" x="%.1f" y="%.1f" width="8" height="8" fill="#e6701a"><title>%s</title></rect>`+"\n", x-4, y-4, esc(title))
		} else {
			fmt.Fprintf(&b, `<circle class="point webfuser" cx="%.1f" cy="%.1f" r="4.5" fill="#1f6fb4"><title>%s</title></circle>`+"\n", x, y, esc(title))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9">%d</text>`+"\n", x+6, y-4, i+1)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d. %s (%sFLOP/s)</text>`+"\n", lx, svgTop+svgLineH*(i+2), i+1, esc(p.Label), esc(siLabel(p.Rate)))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeFile writes the chart to path.
func (r roofline) writeFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --svg: %v", err)
	}
	if err := r.writeSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// esc escapes text for XML.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// siLabel prints v with an SI prefix and a trailing space: "67 T", "4.2 G".
func siLabel(v float64) string {
	for _, u := range []struct {
		s string
		f float64
	}{{"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if v >= u.f {
			return fmt.Sprintf("%.3g %s", v/u.f, u.s)
		}
	}
	return fmt.Sprintf("%.3g ", v)
}

// decadeLabel prints 10^e without an exponent where that is short:
// "0.01", "1", "1000", "1e+06".
func decadeLabel(e int) string {
	switch {
	case e < -3 || e > 5:
		return fmt.Sprintf("1e%+03d", e)
	case e < 0:
		return fmt.Sprintf("%.*f", -e, math.Pow(10, float64(e)))
	}
	return fmt.Sprintf("%.0f", math.Pow(10, float64(e)))
}
