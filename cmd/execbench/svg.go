package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// colors are the contenders' bar colors, distinguishable in print and by
// most color-blind readers.
var colors = map[string]string{
	"uring":     "#1f77b4",
	"portable":  "#ff7f0e",
	"os":        "#2ca02c",
	"fio":       "#7f7f7f",
	"pool":      "#17becf",
	"fio-fixed": "#bcbd22",
}

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth    = 1000
	svgLeft     = 80  // room for the y axis labels
	svgRight    = 20  //
	svgHeader   = 90  // title, subtitle and legend
	panelHeight = 300 // one mode: its title, plot and x labels
	plotTop     = 30  // panel title above the plot
	plotBottom  = 40  // x labels below it
)

// writeSVG draws ops/s as a grouped bar chart, one panel per mode (each
// with its own scale: page-cache reads are several times faster than
// device reads), a group per depth, a bar per contender.
func writeSVG(w io.Writer, m machine, cells []cell) error {
	var modes, contenders []string
	var depths []int
	for _, c := range cells {
		if !slices.Contains(modes, c.Mode) {
			modes = append(modes, c.Mode)
		}
		if !slices.Contains(contenders, c.Contender) {
			contenders = append(contenders, c.Contender)
		}
		if !slices.Contains(depths, c.Depth) {
			depths = append(depths, c.Depth)
		}
	}
	height := svgHeader + len(modes)*panelHeight + 10
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	text(&b, svgWidth/2, 28, 18, "middle", "bold", "4 KiB random reads: ops/s (higher is better)")
	sub := fmt.Sprintf("%s file on %s, %s per cell, GOMAXPROCS %d, Linux %s, %s",
		sizeString(m.FileSize), m.FileSystem, m.CellDuration, m.GOMAXPROCS, m.Kernel, m.Time)
	text(&b, svgWidth/2, 50, 12, "middle", "", sub)

	// Legend, centered.
	const swatch, gap = 14, 30
	widths := make([]int, len(contenders))
	total := 0
	for i, c := range contenders {
		widths[i] = swatch + 6 + 7*len(contenderNames[c])
		total += widths[i]
	}
	total += gap * (len(contenders) - 1)
	x := (svgWidth - total) / 2
	for i, c := range contenders {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", x, 64, swatch, swatch, colors[c])
		text(&b, x+swatch+6, 76, 12, "start", "", contenderNames[c])
		x += widths[i] + gap
	}

	for p, mode := range modes {
		top := svgHeader + p*panelHeight
		panel(&b, top, mode, depths, contenders, cells)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// panel draws one mode's bars with their axes.
func panel(b *bytes.Buffer, top int, mode string, depths []int, contenders []string, cells []cell) {
	find := func(depth int, contender string) *cell {
		for i := range cells {
			if c := &cells[i]; c.Mode == mode && c.Depth == depth && c.Contender == contender {
				return c
			}
		}
		return nil
	}
	peak := 0.0
	for _, c := range cells {
		if c.Mode == mode {
			peak = max(peak, c.OpsPerSec)
		}
	}
	step, ymax := niceScale(peak)
	x0, x1 := svgLeft, svgWidth-svgRight
	y0, y1 := top+plotTop, top+panelHeight-plotBottom // plot's top and bottom
	text(b, x0, top+18, 14, "start", "bold", modeNames[mode])
	yOf := func(v float64) float64 { return float64(y1) - v/ymax*float64(y1-y0) }

	// Grid lines and y labels.
	for v := 0.0; v <= ymax*1.0001; v += step {
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
		text(b, x0-6, int(math.Round(y))+4, 11, "end", "", short(v))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", x0, y1, x1, y1)

	groupW := float64(x1-x0) / float64(len(depths))
	barW := groupW * 0.8 / float64(len(contenders))
	for g, depth := range depths {
		gx := float64(x0) + float64(g)*groupW + groupW*0.1
		text(b, int(gx+groupW*0.4), y1+18, 12, "middle", "", "depth "+strconv.Itoa(depth))
		for i, contender := range contenders {
			bx := gx + float64(i)*barW
			cx := int(math.Round(bx + barW/2))
			c := find(depth, contender)
			if c == nil || c.Unavailable != "" {
				text(b, cx, y1-4, 10, "middle", "", "n/a")
				continue
			}
			y := yOf(c.OpsPerSec)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s, depth %d: %s ops/s</title></rect>`+"\n",
				bx+1, y, max(barW-2, 1), float64(y1)-y, colors[contender], escape(c.Name), escape(modeNames[mode]), depth, group(int64(c.OpsPerSec+0.5)))
			label := short(c.OpsPerSec)
			if barW >= 30 {
				text(b, cx, int(y)-4, 10, "middle", "", label)
			} else {
				// Too narrow for the label across: stand it on end.
				fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" transform="rotate(-90 %d %d)">%s</text>`+"\n", cx+3, int(y)-4, cx+3, int(y)-4, escape(label))
			}
		}
	}
}

// niceScale picks a y axis step of 1, 2 or 5 times a power of ten that
// gives four to ten grid lines, and the axis maximum, a multiple of it at or
// above peak.
func niceScale(peak float64) (step, ymax float64) {
	if peak <= 0 {
		return 1, 5
	}
	raw := peak / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 5, 10} {
		if step = f * p; step >= raw {
			break
		}
	}
	return step, math.Ceil(peak/step) * step
}

// short formats a rate compactly: 950, 97k, 1.2M.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func text(b *bytes.Buffer, x, y, size int, anchor, weight, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="%d" text-anchor="%s"`, x, y, size, anchor)
	if weight != "" {
		fmt.Fprintf(b, ` font-weight="%s"`, weight)
	}
	fmt.Fprintf(b, ">%s</text>\n", escape(s))
}

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
