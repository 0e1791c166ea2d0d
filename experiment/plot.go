package experiment

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Size of every plot.
const (
	plotWidth  = 16 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// savePNG writes p to path; the extension .png selects the format.
func savePNG(p *plot.Plot, path string) error {
	fixRange(&p.X)
	fixRange(&p.Y)
	if err := p.Save(plotWidth, plotHeight, path); err != nil {
		return fmt.Errorf("save plot %s: %w", path, err)
	}
	return nil
}

// fixRange gives an axis whose range is NaN the range 0 to 1. gonum/plot
// v0.17.0 fixes infinite and empty ranges itself but loops forever
// choosing ticks for a NaN one, which a run without data would produce.
func fixRange(axis *plot.Axis) {
	if math.IsNaN(axis.Min) || math.IsNaN(axis.Max) {
		axis.Min, axis.Max = 0, 1
	}
}

// addLine adds a solid line through points, drawn in color index i. It
// leaves out points with a NaN value, such as the share in a second when
// neither task ran, and adds nothing when no point is left.
func addLine(p *plot.Plot, points plotter.XYs, label string, i int) error {
	points = slices.DeleteFunc(slices.Clone(points), func(xy plotter.XY) bool {
		return math.IsNaN(xy.X) || math.IsNaN(xy.Y)
	})
	if len(points) == 0 {
		return nil
	}
	line, err := plotter.NewLine(points)
	if err != nil {
		return fmt.Errorf("plot %s: %w", label, err)
	}
	line.Color = plotutil.Color(i)
	line.Width = vg.Points(1.5)
	p.Add(line)
	p.Legend.Add(label, line)
	return nil
}

// addLevel adds a dashed horizontal line at y from x0 to x1.
func addLevel(p *plot.Plot, y, x0, x1 float64, label string, i int) error {
	line, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	if err != nil {
		return fmt.Errorf("plot %s: %w", label, err)
	}
	line.Color = plotutil.Color(i)
	line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(line)
	p.Legend.Add(label, line)
	return nil
}

// addMark adds one large glyph at (x, y).
func addMark(p *plot.Plot, x, y float64, label string, shape draw.GlyphDrawer, c color.Color) error {
	mark, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return fmt.Errorf("plot %s: %w", label, err)
	}
	mark.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(5), Shape: shape}
	p.Add(mark)
	p.Legend.Add(label, mark)
	return nil
}

// shareLabels names the two containers of the nice plot.
type shareLabels struct{ A, B string }

// plotShares draws each task's CPU share per interval, at the middle of
// the interval, beside the predicted shares.
func plotShares(path string, steps []interval, predA, predB float64, labels shareLabels) error {
	p := newPlot("CPU share while both run", "time since the first start (s)", "share of CPU (%)")
	p.Y.Min, p.Y.Max = 0, 100
	// Lower the legend from the top, where it would hide the larger share.
	p.Legend.YOffs = -plotHeight / 4
	a, b := make(plotter.XYs, len(steps)), make(plotter.XYs, len(steps))
	for i, step := range steps {
		middle := (step.From + step.To) / 2
		a[i] = plotter.XY{X: middle, Y: 100 * step.ShareA}
		b[i] = plotter.XY{X: middle, Y: 100 * step.ShareB}
	}
	x0, x1 := timeRange(steps)
	err := firstError(
		func() error { return addLine(p, a, labels.A+" measured", 0) },
		func() error { return addLine(p, b, labels.B+" measured", 1) },
		func() error { return addLevel(p, 100*predA, x0, x1, labels.A+" predicted", 0) },
		func() error { return addLevel(p, 100*predB, x0, x1, labels.B+" predicted", 1) },
	)
	if err != nil {
		return err
	}
	return savePNG(p, path)
}

func timeRange(steps []interval) (float64, float64) {
	if len(steps) == 0 {
		return 0, 1
	}
	return steps[0].From, steps[len(steps)-1].To
}

// plotCPU draws the cumulative CPU time of two tasks over time.
func plotCPU(path string, a, b series, labels shareLabels) error {
	p := newPlot("CPU time used", "time since the first start (s)", "CPU time (s)")
	err := firstError(
		func() error { return addLine(p, seriesXYs(a, 1), labels.A, 0) },
		func() error { return addLine(p, seriesXYs(b, 1), labels.B, 1) },
	)
	if err != nil {
		return err
	}
	return savePNG(p, path)
}

// seriesXYs converts s to plot points, dividing each value by scale.
func seriesXYs(s series, scale float64) plotter.XYs {
	xys := make(plotter.XYs, len(s))
	for i, pt := range s {
		xys[i] = plotter.XY{X: pt.T, Y: pt.V / scale}
	}
	return xys
}

// plotLatencies draws the io_pulse latency of each iteration of two runs.
func plotLatencies(path string, alone, beside []float64) error {
	p := newPlot("io_pulse write+fsync latency", "iteration", "latency (ms)")
	p.Y.Min = 0
	err := firstError(
		func() error { return addLine(p, iterationXYs(alone), "io_pulse alone", 0) },
		func() error { return addLine(p, iterationXYs(beside), "beside cpu_hog", 1) },
	)
	if err != nil {
		return err
	}
	p.Y.Max = legendRoom * maximum(append(slices.Clone(alone), beside...))
	return savePNG(p, path)
}

// legendRoom scales the top of the y axis above the data, so that the
// legend in the top corner does not hide it.
const legendRoom = 1.35

func iterationXYs(values []float64) plotter.XYs {
	xys := make(plotter.XYs, len(values))
	for i, v := range values {
		xys[i] = plotter.XY{X: float64(i + 1), Y: v}
	}
	return xys
}

// rssPlot is the data of the memory plot, with times in seconds since the
// start and sizes in bytes. A nil event is not marked.
type rssPlot struct {
	Samples    series
	Soft, Hard int64
	SoftEvent  *point
	HardEvent  *point
}

const mebibyte = 1 << 20

// plotRSS draws the sampled RSS with both limits and the events marked.
func plotRSS(path string, data rssPlot) error {
	p := newPlot("memory_hog RSS under limits", "time since start (s)", "RSS (MiB)")
	p.Legend.Left = true
	x1 := max(data.Samples.end(), 0.1)
	err := firstError(
		func() error { return addLine(p, seriesXYs(data.Samples, mebibyte), "rss sampled", 2) },
		func() error { return addLevel(p, float64(data.Soft)/mebibyte, 0, x1, "soft limit", 1) },
		func() error { return addLevel(p, float64(data.Hard)/mebibyte, 0, x1, "hard limit", 0) },
		func() error {
			return addEventMark(p, data.SoftEvent, "soft-limit event", draw.TriangleGlyph{})
		},
		func() error {
			return addEventMark(p, data.HardEvent, "hard-limit kill", draw.CrossGlyph{})
		},
	)
	if err != nil {
		return err
	}
	peak := slices.MaxFunc(append(series{{V: float64(data.Hard)}}, data.Samples...),
		func(a, b point) int { return cmp.Compare(a.V, b.V) })
	p.Y.Min, p.Y.Max = 0, legendRoom*peak.V/mebibyte
	return savePNG(p, path)
}

func addEventMark(p *plot.Plot, at *point, label string, shape draw.GlyphDrawer) error {
	if at == nil {
		return nil
	}
	black := color.RGBA{A: 255}
	return addMark(p, at.T, at.V/mebibyte, label, shape, black)
}

// firstError runs steps in order and returns the first error.
func firstError(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
